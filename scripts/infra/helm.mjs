// Helm, for the chart's tests (`helm lint`, `helm template`): built from its module source with the
// machine's Go into the cache, as FerretDB is, since the registries reachable here serve no binary.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged } from './process.mjs';

const MODULE = 'helm.sh/helm/v3';

export const helmBin = (config) => join(config.helm.home, 'bin', 'helm');

/** Builds helm once; true when it was built now. */
export async function installHelm(config) {
  if (existsSync(helmBin(config))) return false;
  const env = {
    GOBIN: join(config.helm.home, 'bin'),
    // Build with the machine's Go instead of fetching another toolchain.
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local',
    CGO_ENABLED: '0',
  };
  // The version a release build stamps, so `helm version` and the chart's capabilities say it.
  const ldflags = `-X ${MODULE}/internal/version.version=${config.helm.version}`;
  await runLogged(config, 'helm-install', 'go', ['install', '-trimpath', `-ldflags=${ldflags}`, `${MODULE}/cmd/helm@${config.helm.version}`], { env });
  if (!existsSync(helmBin(config))) throw new Error(`go install finished but ${helmBin(config)} is missing`);
  return true;
}
