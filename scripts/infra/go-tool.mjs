// Tools the tests run that no reachable registry serves as a binary (helm, promtool): built once from
// their Go module's source with the machine's Go into the cache.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged } from './process.mjs';

/** `go install pkg@version` into `home/bin`, once; true when it was built now. */
export async function goInstallTool(config, { name, home, pkg, version, ldflags }) {
  const bin = join(home, 'bin', name);
  if (existsSync(bin)) return false;
  const env = {
    GOBIN: join(home, 'bin'),
    // Build with the machine's Go instead of fetching another toolchain.
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local',
    CGO_ENABLED: '0',
  };
  const flags = ldflags ? [`-ldflags=${ldflags}`] : [];
  await runLogged(config, `${name}-install`, 'go', ['install', '-trimpath', ...flags, `${pkg}@${version}`], { env });
  if (!existsSync(bin)) throw new Error(`go install finished but ${bin} is missing`);
  return true;
}
