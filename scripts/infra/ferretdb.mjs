// FerretDB 1.x (MongoDB wire protocol) with its SQLite backend, built from the module source into
// the cache. FerretDB 1.x has no multi-document transactions and no change streams.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged, running, startDetached, waitUntil } from './process.mjs';
import { mongoReady } from './probes.mjs';

const MODULE_ROOT = 'github.com/FerretDB/FerretDB';
const binOf = (f) => join(f.home, 'bin', 'ferretdb');

export function ferretdbInstalled(config) {
  return existsSync(binOf(config.ferretdb));
}

/**
 * `go install ...@version` builds a binary that panics at start: FerretDB reads its version from
 * build/version/version.txt, which its release build generates from git and the module zip lacks.
 * So: fetch the exact module with the Go module proxy, copy it, write that file as the release
 * build would, and `go build ./cmd/ferretdb` (same sources, same go.sum-pinned dependencies).
 */
export async function installFerretdb(config) {
  const f = config.ferretdb;
  if (ferretdbInstalled(config)) return false;
  const src = join(f.home, 'src');
  // GOTOOLCHAIN=local: build with the machine's Go instead of fetching another toolchain.
  const env = { GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
  const downloaded = await captureJson('go', ['mod', 'download', '-json', `${MODULE_ROOT}@${f.version}`], env);
  if (!downloaded.Dir) throw new Error(`go mod download ${MODULE_ROOT}@${f.version}: ${downloaded.Error ?? 'no Dir'}`);
  rmSync(src, { recursive: true, force: true });
  cpSync(downloaded.Dir, src, { recursive: true });
  chmodTree(src);
  writeFileSync(join(src, 'build', 'version', 'version.txt'), `${f.version}\n`);
  writeFileSync(join(src, 'build', 'version', 'package.txt'), 'opal-infra\n');
  mkdirSync(join(f.home, 'bin'), { recursive: true });
  await runLogged(config, 'ferretdb-install', 'go', ['build', '-trimpath', '-o', binOf(f), './cmd/ferretdb'], { cwd: src, env });
  if (!ferretdbInstalled(config)) throw new Error(`go build finished but ${binOf(f)} is missing`);
  rmSync(src, { recursive: true, force: true });
  return true;
}

function captureJson(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`${command}: ${e.message} (is Go installed?)`)));
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}): ${err.trim()}`));
      }
    });
  });
}

/** The module cache is read-only; the copy must be writable to add the version file and delete later. */
function chmodTree(dir) {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) chmodTree(p);
    else chmodSync(p, 0o644);
  }
}

export async function startFerretdb(config) {
  const f = config.ferretdb;
  const existing = running(config, 'ferretdb');
  if (existing) return { started: false, state: existing };
  if (await mongoReady(config.host, f.port).catch(() => false)) return { started: false, external: true };
  const sqliteDir = join(f.dataDir, 'sqlite');
  const stateDir = join(f.dataDir, 'state');
  mkdirSync(sqliteDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const args = [
    `--listen-addr=${config.host}:${f.port}`,
    `--debug-addr=${config.host}:${f.debugPort}`,
    '--handler=sqlite',
    `--sqlite-url=file:${sqliteDir}/`,
    `--state-dir=${stateDir}`,
    '--telemetry=disable',
    '--log-level=warn',
  ];
  const { state } = startDetached(config, 'ferretdb', binOf(f), args, { marker: binOf(f) });
  await waitUntil('ferretdb', () => mongoReady(config.host, f.port), { timeoutMs: 30_000, pid: state.pid, log: state.log });
  return { started: true, state };
}
