// promtool, for the chart's tests (its alerting rules checked and unit-tested): built from the
// Prometheus module's source with the machine's Go into the cache, as helm is.
import { join } from 'node:path';
import { goInstallTool } from './go-tool.mjs';

export const promtoolBin = (config) => join(config.promtool.home, 'bin', 'promtool');

/** Builds promtool once; true when it was built now. */
export async function installPromtool(config) {
  const { home, version } = config.promtool;
  return goInstallTool(config, { name: 'promtool', home, pkg: 'github.com/prometheus/prometheus/cmd/promtool', version });
}
