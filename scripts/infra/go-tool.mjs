// Tools the tests run that no reachable registry serves as a binary (helm, promtool): built once from
// their Go module's source with the machine's Go into the cache.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged } from './process.mjs';

/** `go install pkg@version` into `home/bin`, once; true when it was built now. */
export async function goInstallTool(config, { name, home, pkg, version, ldflags }) {
  const bin = join(home, 'bin', name);
  if (existsSync(bin)) return false;
  // Installed into a folder of its own and moved into place whole: an install cut off while it
  // wrote the binary leaves nothing that the check above would take for a finished one.
  const staging = join(home, `bin.installing-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const env = { GOBIN: staging, GOTOOLCHAIN: goToolchain(), CGO_ENABLED: '0' };
  const flags = ldflags ? [`-ldflags=${ldflags}`] : [];
  try {
    await runLogged(config, `${name}-install`, 'go', ['install', '-trimpath', ...flags, `${pkg}@${version}`], { env });
    if (!existsSync(join(staging, name))) throw new Error(`go install finished but ${join(staging, name)} is missing`);
    mkdirSync(join(home, 'bin'), { recursive: true });
    renameSync(join(staging, name), bin);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return true;
}

/**
 * The machine's Go when it is new enough for the module built, else the toolchain the module asks
 * for, fetched once through the Go module proxy (Go 1.21 or later does this); GOTOOLCHAIN overrides.
 */
export function goToolchain() {
  return process.env.GOTOOLCHAIN ?? 'auto';
}
