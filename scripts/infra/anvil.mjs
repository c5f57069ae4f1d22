// The local chain: anvil from the npm registry (@foundry-rs/anvil ships its binary in a
// per-platform package, so nothing is downloaded at install or at start).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ROOT } from './config.mjs';
import { running, startDetached, waitUntil } from './process.mjs';
import { chainReady } from './probes.mjs';

function anvilBinary() {
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;
  const require = createRequire(join(ROOT, 'package.json'));
  try {
    const pkg = require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/package.json`);
    const bin = join(dirname(pkg), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
    if (existsSync(bin)) return bin;
  } catch {
    /* fall through */
  }
  throw new Error(`anvil binary for ${process.platform}-${arch} not found: run npm install (devDependency @foundry-rs/anvil)`);
}

export function anvilInstalled() {
  try {
    anvilBinary();
    return true;
  } catch {
    return false;
  }
}

export async function startAnvil(config) {
  const a = config.anvil;
  const existing = running(config, 'anvil');
  if (existing) return { started: false, state: existing };
  if (await chainReady(config.host, a.port, a.chainId).catch(() => false)) return { started: false, external: true };
  const bin = anvilBinary();
  const args = ['--host', config.host, '--port', String(a.port), '--chain-id', String(a.chainId), '--no-request-size-limit'];
  const { state } = startDetached(config, 'anvil', bin, args, { marker: bin });
  await waitUntil('anvil', () => chainReady(config.host, a.port, a.chainId), { timeoutMs: 30_000, pid: state.pid, log: state.log, config, name: 'anvil' });
  return { started: true, state };
}
