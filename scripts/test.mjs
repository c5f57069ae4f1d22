#!/usr/bin/env node
// Runs every compiled spec with node's test runner. Arguments filter by path substring:
//   node scripts/test.mjs event-log ingest
// OPAL_TEST_SUFFIX=unit limits the run to *.unit.spec.js (int, e2e likewise).
import { readdirSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const suffix = process.env.OPAL_TEST_SUFFIX;

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.spec.js')) out.push(p);
  }
  return out;
}

const dirs = [join(root, 'dist', 'test'), join(root, 'dist', 'bench')];
for (const group of ['libs', 'services', 'tools']) {
  const g = join(root, group);
  if (existsSync(g)) for (const pkg of readdirSync(g)) dirs.push(join(g, pkg, 'dist'));
}
let files = dirs.flatMap((d) => walk(d)).map((f) => relative(root, f)).sort();
if (suffix) files = files.filter((f) => f.endsWith(`.${suffix}.spec.js`));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
/** Ends the run with the closing line CI reads, a run that never got to its tests too. */
function finish(pass, fail, code) {
  console.log(`${pass} passed, ${fail} failed`);
  // For .ci/run, which prints one itself when the run ended before this (an install or build failed).
  if (process.env.OPAL_TEST_SUMMARY_FILE) writeFileSync(process.env.OPAL_TEST_SUMMARY_FILE, `${pass} passed, ${fail} failed\n`);
  process.exit(code);
}
if (files.length === 0) {
  console.error('no test files matched');
  finish(0, 1, 1);
}
// Servers the tests start on demand (Kafka, FerretDB, anvil via scripts/infra) are stopped at
// the end, unless they were already running before the tests began.
const infra = join(root, 'scripts', 'infra', 'infra.mjs');
const infraStatus = () => {
  const r = spawnSync(process.execPath, [infra, 'status', '--json'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  try {
    return JSON.parse(r.stdout).services ?? {};
  } catch {
    return {};
  }
};
const runningBefore = new Set(Object.entries(infraStatus()).filter(([, v]) => v).map(([k]) => k));

// Tools the chart's test runs (helm, promtool) are built from source on a machine's first run, for
// minutes on both cores: built here, before any test, rather than beside one that keeps time.
if (process.env.OPAL_SKIP_INFRA !== '1' && files.some((f) => f.includes('helm-chart'))) {
  for (const tool of ['helm', 'promtool']) {
    if (process.env[`OPAL_${tool.toUpperCase()}`]) continue;
    const r = spawnSync(process.execPath, [infra, 'tool', tool], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) {
      console.error(`building ${tool} failed: no test ran`);
      finish(0, 1, r.status ?? 1);
    }
  }
}

// --test-force-exit: a test file whose tests have all reported ends even if a client it used left a
// timer behind (a leak to fix, but not a reason for CI to wait until its deadline).
const child = spawn(process.execPath, ['--enable-source-maps', '--test', '--test-force-exit', '--test-reporter=spec', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, OPAL_LOG_LEVEL: process.env.OPAL_LOG_LEVEL ?? 'warn' },
});
// Pass the runner's output through and close with the plain summary line CI reads.
let pass = 0;
let fail = 0;
// Tests a failed hook kept from running (a suite's `before`) are cancelled: they count as failed.
let cancelled = 0;
// Skipped tests (no infrastructure: OPAL_SKIP_INFRA=1, or a mode without the local servers) are said,
// so a run that skipped the fault tests is not taken for one that passed them.
let skipped = 0;
let tail = '';
// Text, not bytes: a chunk may end inside a character (the ℹ of a summary line).
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const text = tail + chunk;
  const lines = text.split('\n');
  tail = lines.pop() ?? '';
  for (const line of lines) {
    // The spec reporter marks a skipped suite or test with ﹣ (a skipped suite's tests are not counted).
    if (/^\s*﹣ /.test(line)) skipped++;
    const m = /^ℹ (pass|fail|cancelled) (\d+)$/.exec(line.trim());
    if (m?.[1] === 'pass') pass = Number(m[2]);
    else if (m?.[1] === 'fail') fail = Number(m[2]);
    else if (m?.[1] === 'cancelled') cancelled = Number(m[2]);
  }
});
// 'close': the runner's output is all read by then ('exit' may come first).
child.on('close', (code, signal) => {
  const startedByTests = Object.entries(infraStatus())
    .filter(([name, v]) => v && !runningBefore.has(name))
    .map(([name]) => name);
  // Bounded: a server that will not go must not keep CI from its closing line.
  if (startedByTests.length > 0) spawnSync(process.execPath, [infra, 'down', ...startedByTests], { cwd: root, stdio: 'inherit', timeout: 120_000 });
  // Servers of a test's own (a broker it crashes and restarts) whose test process died before its `after`.
  spawnSync(process.execPath, [infra, 'down', '--abandoned-instances'], { cwd: root, stdio: 'inherit', timeout: 120_000 });
  const status = code ?? (signal ? 1 : 0);
  // A runner that ended badly with nothing failed (killed: out of memory, a signal) is a failure too.
  if (status !== 0 && fail + cancelled === 0) console.log(`the test runner ended with ${signal ?? `exit ${code}`} before reporting a failure`);
  if (skipped > 0) console.log(`${skipped} suites or tests skipped (their reasons are above, after ﹣)`);
  finish(pass, fail + cancelled || (status !== 0 ? 1 : 0), status);
});
