#!/usr/bin/env node
// Local servers for scale-out mode and its tests, all on 127.0.0.1:
//   node scripts/infra/infra.mjs up [kafka] [ferretdb] [anvil] [--json]   install once, start, wait until they answer
//   node scripts/infra/infra.mjs down [names...] [--kill]               stop exactly what `up` started (--kill: SIGKILL, a crash)
//   node scripts/infra/infra.mjs down --abandoned-instances             kill the servers of test instances whose test process is gone
//   node scripts/infra/infra.mjs status [--json]
//   node scripts/infra/infra.mjs tool helm|promtool [--json]             install a tool once; print where it is
// Ports: OPAL_KAFKA_PORT (9092), OPAL_KAFKA_CONTROLLER_PORT (9093), OPAL_KAFKA_SECURE_PORT (9094), OPAL_MONGO_PORT (27017),
// OPAL_MONGO_TLS_PORT (27018), OPAL_FERRETDB_DEBUG_PORT (27088), OPAL_CHAIN_PORT (8545). Cache: OPAL_INFRA_CACHE (.cache/infra).
// A server already answering on its port but not started by us is reused and never stopped.
import { loadConfig, endpointsOf } from './config.mjs';
import { installKafka, secureListenerUp, startKafka } from './kafka.mjs';
import { installFerretdb, secureMongoUp, startFerretdb } from './ferretdb.mjs';
import { anvilInstalled, startAnvil } from './anvil.mjs';
import { helmBin, installHelm } from './helm.mjs';
import { installPromtool, promtoolBin } from './promtool.mjs';
import { alive, running, stop, withLock } from './process.mjs';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ALIASES = { kafka: 'kafka', ferretdb: 'ferretdb', mongo: 'ferretdb', mongodb: 'ferretdb', anvil: 'anvil', chain: 'anvil' };
const ALL = ['kafka', 'ferretdb', 'anvil'];

// Progress goes to stderr so that --json leaves stdout to the endpoints.
const say = (m) => process.stderr.write(`[infra] ${m}\n`);
/** A mistake in the arguments or the environment: said in one line, not as a stack. */
const refuse = (e) => {
  say(`FAILED: ${e.message}`);
  process.exit(2);
};
const [verb = 'status', ...rest] = process.argv.slice(2);
const json = rest.includes('--json');
let names = [];
let config;
try {
  names = (verb === 'tool' ? [] : rest).filter((a) => !a.startsWith('--')).map((n) => {
    const s = ALIASES[n];
    if (!s) throw new Error(`unknown service '${n}' (one of ${Object.keys(ALIASES).join(', ')})`);
    return s;
  });
  config = loadConfig();
} catch (e) {
  refuse(e);
}
const selected = names.length ? [...new Set(names)] : ALL;
const seconds = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

async function timed(label, fn) {
  const t0 = performance.now();
  const did = await fn();
  if (did) say(`${label} in ${seconds(t0)}`);
  return did;
}

async function up() {
  if (process.env.OPAL_INFRA === 'containers') {
    say('OPAL_INFRA=containers: the tests start Kafka and MongoDB with testcontainers; nothing to do here');
    return;
  }
  const t0 = performance.now();
  // Installs overlap: mvn waits on the network, go build on the CPU. Each ends before `up` does, a
  // failed one too: an install left running would race the next `up` in the same folder.
  const installs = await Promise.allSettled([
    selected.includes('kafka') && timed(`installed kafka ${config.kafka.version}`, () => installKafka(config)),
    selected.includes('ferretdb') && timed(`built ferretdb ${config.ferretdb.version}`, () => installFerretdb(config)),
    selected.includes('anvil') &&
      (async () => {
        if (!anvilInstalled()) throw new Error('anvil is not installed: run npm install');
      })(),
  ]);
  const notInstalled = installs.filter((r) => r.status === 'rejected');
  if (notInstalled.length > 0) throw new Error(notInstalled.map((r) => r.reason?.message ?? r.reason).join('; '));
  const starters = { kafka: startKafka, ferretdb: startFerretdb, anvil: startAnvil };
  const results = await Promise.allSettled(
    selected.map(async (name) => {
      const t = performance.now();
      const r = await starters[name](config);
      if (r.started) say(`${name} started (pid ${r.state.pid}) in ${seconds(t)}; log ${r.state.log}`);
      else if (r.external) say(`${name}: something not started by us already answers on its port; reusing it (down leaves it)`);
      else say(`${name} already running (pid ${r.state.pid}); log ${r.state.log}`);
    }),
  );
  const failed = results.filter((r) => r.status === 'rejected');
  for (const f of failed) say(`FAILED: ${f.reason?.message ?? f.reason}`);
  if (failed.length) process.exitCode = 1;
  const endpoints = endpointsOf(config, {
    secureKafka: selected.includes('kafka') && (await secureListenerUp(config)),
    secureMongo: selected.includes('ferretdb') && (await secureMongoUp(config)),
  });
  mkdirSync(config.runDir, { recursive: true });
  writeFileSync(join(config.runDir, 'endpoints.json'), JSON.stringify(endpoints, null, 2));
  say(`up in ${seconds(t0)}; logs in ${config.logDir}`);
  if (json) process.stdout.write(JSON.stringify(endpoints) + '\n');
  else for (const [k, v] of Object.entries(endpoints)) say(`  ${k} = ${v}`);
}

async function down() {
  if (rest.includes('--abandoned-instances')) return downAbandonedInstances();
  // Reverse order: the chain and the store first, the log last.
  for (const name of [...selected].reverse()) {
    if (await stop(config, name, 20_000, { kill: rest.includes('--kill') })) say(`${name} ${rest.includes('--kill') ? 'killed' : 'stopped'}`);
    else say(`${name} was not running (or not started by us)`);
  }
}

/**
 * The instances of tests (OPAL_INFRA_INSTANCE `<name>-<pid>`) whose process is gone, as a test
 * process killed before its `after` leaves them: their servers are killed and their folders
 * removed. An instance whose test process still runs (a test run beside this one) is left alone.
 */
async function downAbandonedInstances() {
  const dir = join(config.cache, 'instances');
  if (!existsSync(dir)) return;
  for (const instance of readdirSync(dir)) {
    const pid = Number(/-(\d+)$/.exec(instance)?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || alive(pid)) continue;
    process.env.OPAL_INFRA_INSTANCE = instance;
    const theirs = loadConfig();
    for (const name of [...ALL].reverse()) if (await stop(theirs, name, 0, { kill: true })) say(`${instance}: ${name} killed (its test process ${pid} is gone)`);
    rmSync(theirs.stateDir, { recursive: true, force: true });
  }
  delete process.env.OPAL_INFRA_INSTANCE;
}

async function status() {
  const rows = Object.fromEntries(ALL.map((n) => [n, running(config, n) ?? null]));
  const endpoints = endpointsOf(config, { secureKafka: await secureListenerUp(config), secureMongo: await secureMongoUp(config) });
  if (json) process.stdout.write(JSON.stringify({ services: rows, endpoints, instanceDir: config.stateDir }) + '\n');
  else for (const [n, s] of Object.entries(rows)) say(`${n}: ${s ? `running, pid ${s.pid}, log ${s.log}` : 'not running'}`);
}

const TOOLS = { helm: { install: installHelm, bin: helmBin }, promtool: { install: installPromtool, bin: promtoolBin } };

async function tool() {
  const name = rest.find((a) => !a.startsWith('--'));
  const t = TOOLS[name];
  if (!t) throw new Error(`unknown tool '${name}' (one of ${Object.keys(TOOLS).join(', ')})`);
  await timed(`built ${name} ${config[name].version}`, () => t.install(config));
  if (json) process.stdout.write(JSON.stringify({ [name]: t.bin(config) }) + '\n');
  else say(`${name} = ${t.bin(config)}`);
}

// up and down take the same lock: parallel test files calling `up` start each server once.
const verbs = { up: () => withLock(config, 'infra', up), down: () => withLock(config, 'infra', down), status, tool: () => withLock(config, 'tools', tool) };
if (!verbs[verb]) {
  console.error('usage: infra.mjs up|down|status [kafka|ferretdb|anvil ...] [--json] | tool helm|promtool [--json]');
  process.exit(2);
}
await verbs[verb]().catch((e) => {
  say(`FAILED: ${e.message}`);
  process.exit(1);
});
