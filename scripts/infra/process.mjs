// Starting servers detached, remembering them in pid files, and stopping exactly those.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether `pid` is a running process: a zombie (exited, its parent yet to reap it) is not. */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: `pid (comm) state ...`; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc here: kill(0) said it is there
  }
}

/** The process started under `name`, if its pid file names a live process that is still ours. */
export function running(config, name) {
  const file = join(config.runDir, `${name}.json`);
  if (!existsSync(file)) return undefined;
  let state;
  try {
    state = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    rmSync(file, { force: true }); // not a pid file we wrote whole
    return undefined;
  }
  // A pid can be reused after a reboot: trust it only while its command line still carries our marker.
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
  } catch {
    /* gone */
  }
  if (!alive(state.pid) || !cmdline.includes(state.marker)) {
    rmSync(file, { force: true });
    return undefined;
  }
  return state;
}

/** Spawns `command` detached in its own process group, output appended to logs/<name>.log. */
export function startDetached(config, name, command, args, { env, marker, cwd } = {}) {
  mkdirSync(config.runDir, { recursive: true });
  mkdirSync(config.logDir, { recursive: true });
  const log = join(config.logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
    cwd: cwd ?? config.cache,
  });
  closeSync(fd);
  child.unref();
  const state = { name, pid: child.pid, marker: marker ?? command, log, startedAt: new Date().toISOString() };
  // Whole or not at all: a pid file cut short would make every later up, down and status throw.
  const file = join(config.runDir, `${name}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
  return { state, child };
}

/** SIGTERM to the process group of what we started (SIGKILL with `kill`), SIGKILL after `graceMs`; removes the pid file. */
export async function stop(config, name, graceMs = 20_000, { kill = false } = {}) {
  const state = running(config, name);
  if (!state) return false;
  const signal = (sig) => {
    try {
      process.kill(-state.pid, sig); // the group: a wrapper's children go too
    } catch {
      try {
        process.kill(state.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal(kill ? 'SIGKILL' : 'SIGTERM');
  const until = Date.now() + graceMs;
  while (alive(state.pid) && Date.now() < until) await sleep(100);
  if (alive(state.pid)) signal('SIGKILL');
  // SIGKILL is not refused; bounded all the same, so a stop never holds up whoever waits on it.
  const killedBy = Date.now() + 10_000;
  while (alive(state.pid) && Date.now() < killedBy) await sleep(50);
  if (alive(state.pid)) console.error(`[infra] ${name} (pid ${state.pid}) still there 10 s after SIGKILL; forgetting it`);
  rmSync(join(config.runDir, `${name}.json`), { force: true });
  return true;
}

/**
 * Polls `probe` until it resolves true, the process dies, or `timeoutMs` passes. A server started
 * under `name` that does not get ready is killed and forgotten: a later `up` must not take it for
 * one that runs.
 */
export async function waitUntil(what, probe, { timeoutMs, pid, log, config, name }) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (pid !== undefined && !alive(pid)) {
      if (config && name) rmSync(join(config.runDir, `${name}.json`), { force: true });
      throw new Error(`${what} exited during start; see ${log}`);
    }
    if (Date.now() > until) {
      if (config && name) await stop(config, name, 0, { kill: true });
      throw new Error(`${what} did not answer within ${timeoutMs / 1000}s (stopped it); see ${log}`);
    }
    await sleep(250);
  }
}

/**
 * Runs a command to completion with its output in a log file; throws naming the log on failure.
 * Asynchronous so that installs bound by the network (mvn) and by the CPU (go build) overlap.
 */
export function runLogged(config, logName, command, args, options = {}) {
  mkdirSync(config.logDir, { recursive: true });
  const log = join(config.logDir, `${logName}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], ...options, env: { ...process.env, ...options.env } });
  closeSync(fd);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`${command}: ${e.message} (is it installed?)`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}); see ${log}`));
    });
  });
}

/**
 * A lock folder with no owner written in it for longer than its owner takes to write one (it died
 * between making the folder and writing its pid): taken over, where every later `up` waited for it
 * until its timeout.
 */
function ownerless(dir) {
  try {
    return Date.now() - statSync(dir).mtimeMs > 10_000;
  } catch {
    return false; // removed meanwhile: the next try takes it
  }
}

/**
 * A lock across processes (test files run in parallel and may all call `up`): a folder created
 * atomically, holding the owner's pid; a lock whose owner is gone is taken over.
 */
export async function withLock(config, name, work, timeoutMs = 15 * 60_000) {
  mkdirSync(config.runDir, { recursive: true });
  const dir = join(config.runDir, `${name}.lock`);
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        /* being written or removed */
      }
      if (Number.isInteger(owner) && owner > 0 ? !alive(owner) : ownerless(dir)) rmSync(dir, { recursive: true, force: true });
      else if (Date.now() > until) throw new Error(`timed out waiting for ${dir} (held by pid ${owner})`);
      else await sleep(200);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
