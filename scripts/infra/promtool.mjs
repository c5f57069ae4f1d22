// promtool, for the chart's tests (its alerting rules checked and unit-tested): built from the
// Prometheus module's source with the machine's Go into the cache, as helm is.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged } from './process.mjs';

const MODULE = 'github.com/prometheus/prometheus';

export const promtoolBin = (config) => join(config.promtool.home, 'bin', 'promtool');

/** Builds promtool once; true when it was built now. */
export async function installPromtool(config) {
  if (existsSync(promtoolBin(config))) return false;
  const env = {
    GOBIN: join(config.promtool.home, 'bin'),
    // Build with the machine's Go instead of fetching another toolchain.
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local',
    CGO_ENABLED: '0',
  };
  await runLogged(config, 'promtool-install', 'go', ['install', '-trimpath', `${MODULE}/cmd/promtool@${config.promtool.version}`], { env });
  if (!existsSync(promtoolBin(config))) throw new Error(`go install finished but ${promtoolBin(config)} is missing`);
  return true;
}
