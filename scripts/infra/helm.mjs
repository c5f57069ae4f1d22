// Helm, for the chart's tests (`helm lint`, `helm template`): built from its module source with the
// machine's Go into the cache, as FerretDB is, since the registries reachable here serve no binary.
import { join } from 'node:path';
import { goInstallTool } from './go-tool.mjs';

const MODULE = 'helm.sh/helm/v3';

export const helmBin = (config) => join(config.helm.home, 'bin', 'helm');

/** Builds helm once; true when it was built now. */
export async function installHelm(config) {
  const { home, version } = config.helm;
  // The version a release build stamps, so `helm version` and the chart's capabilities say it.
  return goInstallTool(config, { name: 'helm', home, pkg: `${MODULE}/cmd/helm`, version, ldflags: `-X ${MODULE}/internal/version.version=${version}` });
}
