// FerretDB 1.x (MongoDB wire protocol) with its SQLite backend, built from the module source into
// the cache. FerretDB 1.x has no multi-document transactions and no change streams.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goToolchain } from './go-tool.mjs';
import { runLogged, running, startDetached, waitUntil } from './process.mjs';
import { mongoReady, tcpOpen } from './probes.mjs';
import { BACKEND_PATCHES } from './ferretdb-backend-patches.mjs';
import { REPLACE_BATCH_PATCHES } from './ferretdb-replace-batch.mjs';
import { SORTED_PAGE_PATCHES } from './ferretdb-sorted-pages.mjs';

const MODULE_ROOT = 'github.com/FerretDB/FerretDB';
const binOf = (f) => join(f.home, 'bin', 'ferretdb');
const stampOf = (f) => join(f.home, 'bin', 'patches.txt');

/**
 * Dependencies built at a newer version than FerretDB 1.24.2's go.sum pins (`go get` before the
 * build). modernc.org/sqlite v1.32.0 is SQLite 3.46 translated to Go, on modernc.org/libc v1.55
 * (whose memcmp, for one, compares a byte at a time); v1.62.0 takes FerretDB's CPU per inserted
 * read-model document down by about a fifth, and the store-only rate up by about a third, in
 * alternated runs of the same load (FerretDB's SQL and the database files are unchanged).
 */
const UPGRADES = [['modernc.org/sqlite', 'v1.62.0']];
const PATCH_STAMP = `opal-5 (${UPGRADES.map((u) => u.join('@')).join(', ')}): sqlite _id index expression; _id pushdown next to other conditions and for $in; string equalities pushed down; non-unique compound indexes on their first field; updates as compare-and-set (arrays holding the value match); a command of replacements by _id in one read and one transaction; update statements release their rows; finds sorted by plain fields ordered in SQL, and their $or narrowed\n`;

export function ferretdbInstalled(config) {
  const f = config.ferretdb;
  return existsSync(binOf(f)) && existsSync(stampOf(f)) && readFileSync(stampOf(f), 'utf8') === PATCH_STAMP;
}

function applyPatches(src) {
  for (const p of [...BACKEND_PATCHES, ...REPLACE_BATCH_PATCHES, ...SORTED_PAGE_PATCHES]) {
    const file = join(src, p.file);
    const text = readFileSync(file, 'utf8');
    if (!text.includes(p.from)) throw new Error(`ferretdb patch: ${p.file} does not contain the expected code (another FerretDB version?)`);
    writeFileSync(file, text.replace(p.from, p.to) + (p.append ?? ''));
  }
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
  const env = { GOTOOLCHAIN: goToolchain(), CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
  const downloaded = await captureJson('go', ['mod', 'download', '-json', `${MODULE_ROOT}@${f.version}`], env);
  if (!downloaded.Dir) throw new Error(`go mod download ${MODULE_ROOT}@${f.version}: ${downloaded.Error ?? 'no Dir'}`);
  rmSync(src, { recursive: true, force: true });
  cpSync(downloaded.Dir, src, { recursive: true });
  chmodTree(src);
  writeFileSync(join(src, 'build', 'version', 'version.txt'), `${f.version}\n`);
  writeFileSync(join(src, 'build', 'version', 'package.txt'), 'opal-infra\n');
  applyPatches(src);
  for (const [module, version] of UPGRADES) {
    await runLogged(config, 'ferretdb-install', 'go', ['get', `${module}@${version}`], { cwd: src, env: { ...env, GOFLAGS: '-mod=mod' } });
  }
  mkdirSync(join(f.home, 'bin'), { recursive: true });
  // Built beside the binary and moved into place whole, its stamp written after: a build cut off
  // half-way leaves no binary, or none stamped, to be taken for a finished one.
  rmSync(stampOf(f), { force: true });
  const building = `${binOf(f)}.building-${process.pid}`;
  await runLogged(config, 'ferretdb-install', 'go', ['build', '-trimpath', '-o', building, './cmd/ferretdb'], { cwd: src, env });
  if (!existsSync(building)) throw new Error(`go build finished but ${building} is missing`);
  renameSync(building, binOf(f));
  writeFileSync(stampOf(f), PATCH_STAMP);
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

const OPENSSL_EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * The TLS listener's files, made once with the openssl command: a CA (ten years), a server
 * certificate for 127.0.0.1 and localhost, and a client certificate, as separate files and as one
 * file of certificate and key (MongoDB's tlsCertificateKeyFile). False where openssl is missing.
 */
async function ensureTls(config) {
  const f = config.ferretdb;
  const d = f.tlsDir;
  const files = ['ca.pem', 'server.crt', 'server.key', 'client.crt', 'client.key', 'client.pem'].map((n) => join(d, n));
  if (files.every((p) => existsSync(p))) return true;
  try {
    await runLogged(config, 'ferretdb-tls', 'openssl', ['version']);
  } catch {
    return false;
  }
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  const ssl = (args) => runLogged(config, 'ferretdb-tls', 'openssl', args, { cwd: d });
  await ssl(['req', '-x509', ...OPENSSL_EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=opal-local-mongodb-ca']);
  const issue = async (name, cn, ext) => {
    writeFileSync(join(d, `${name}.ext`), ext);
    await ssl(['req', ...OPENSSL_EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    await ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '3650', '-extfile', `${name}.ext`]);
  };
  await issue('server', config.host, `subjectAltName=IP:${config.host},DNS:localhost\nextendedKeyUsage=serverAuth\n`);
  await issue('client', 'opal', 'extendedKeyUsage=clientAuth\n');
  writeFileSync(join(d, 'client.pem'), readFileSync(join(d, 'client.crt'), 'utf8') + readFileSync(join(d, 'client.key'), 'utf8'));
  return true;
}

/** Whether our FerretDB serves its TLS listener (started with one and answering on its port). */
export async function secureMongoUp(config) {
  const f = config.ferretdb;
  const state = running(config, 'ferretdb');
  if (!f.tlsPort || !state || !existsSync(tlsMarkerOf(config))) return false;
  return tcpOpen(config.host, f.tlsPort);
}

/** Written while our FerretDB runs with the TLS listener, removed when it starts without. */
const tlsMarkerOf = (config) => join(config.runDir, `ferretdb-tls-${config.ferretdb.tlsPort}`);

export async function startFerretdb(config) {
  const f = config.ferretdb;
  const existing = running(config, 'ferretdb');
  if (existing) return { started: false, state: existing };
  if (await mongoReady(config.host, f.port).catch(() => false)) return { started: false, external: true };
  // The TLS listener only serves the TLS tests: a port something else holds leaves it out, not the server.
  const tlsPortTaken = f.tlsPort > 0 && (await tcpOpen(config.host, f.tlsPort));
  if (tlsPortTaken) process.stderr.write(`[infra] ferretdb: ${config.host}:${f.tlsPort} is in use; starting without the TLS listener (OPAL_MONGO_TLS_PORT picks another)\n`);
  const tls = f.tlsPort > 0 && !tlsPortTaken && (await ensureTls(config));
  if (f.tlsPort > 0 && !tlsPortTaken && !tls) process.stderr.write('[infra] ferretdb: no openssl command to make certificates with; starting without the TLS listener\n');
  mkdirSync(config.runDir, { recursive: true });
  rmSync(tlsMarkerOf(config), { force: true });
  const sqliteDir = join(f.dataDir, 'sqlite');
  const stateDir = join(f.dataDir, 'state');
  mkdirSync(sqliteDir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const args = [
    `--listen-addr=${config.host}:${f.port}`,
    `--debug-addr=${config.host}:${f.debugPort}`,
    '--handler=sqlite',
    // WAL (FerretDB's default) with synchronous=NORMAL: a commit no longer waits for an fsync; a
    // crash of FerretDB or of the machine's processes loses nothing, a power cut may lose the last
    // commits (fine for local servers; production runs MongoDB). A 64 MiB page cache (SQLite's
    // default is 2 MiB) keeps the read models' indexes in memory.
    `--sqlite-url=file:${sqliteDir}/?_pragma=synchronous(normal)&_pragma=cache_size(-65536)`,
    `--state-dir=${stateDir}`,
    '--telemetry=disable',
    // Rows per INSERT statement (default 100): a projection's batch inserts thousands of documents.
    '--test-batch-size=1000',
    '--log-level=warn',
    // Mutual TLS: with a CA file FerretDB asks every client for a certificate it signed.
    ...(tls
      ? [
          `--listen-tls=${config.host}:${f.tlsPort}`,
          `--listen-tls-cert-file=${join(f.tlsDir, 'server.crt')}`,
          `--listen-tls-key-file=${join(f.tlsDir, 'server.key')}`,
          `--listen-tls-ca-file=${join(f.tlsDir, 'ca.pem')}`,
        ]
      : []),
  ];
  // Go's collector runs when the heap has grown by GOGC percent (default 100). Each command allocates
  // a lot of short-lived garbage and the live heap stays small, so a higher target trades a few
  // MiB of memory for fewer collections (inserts ~5%, updates ~10% cheaper, measured).
  const env = { GOGC: process.env.GOGC ?? '400' };
  const { state } = startDetached(config, 'ferretdb', binOf(f), args, { marker: binOf(f), env });
  await waitUntil('ferretdb', () => mongoReady(config.host, f.port), { timeoutMs: 30_000, pid: state.pid, log: state.log, config, name: 'ferretdb' });
  if (tls) writeFileSync(tlsMarkerOf(config), String(state.pid));
  return { started: true, state };
}
