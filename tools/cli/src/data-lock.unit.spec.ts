import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { breakFileOf, identityOf, removeStale, takeDataLock } from './data-lock.js';

const root = mkdtempSync(join(tmpdir(), 'opal-data-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => {
  const dir = join(root, String(n++));
  mkdirSync(dir);
  return dir;
};

/** A process that lives until killed: the holder of a lock. */
function sleeper() {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  after(() => child.kill('SIGKILL'));
  return child;
}

describe('the data folder lock', () => {
  it('is taken once: another live process holding it is named, and the release frees it', async () => {
    const dir = folder();
    const other = sleeper();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: other.pid, identity: identityOf(other.pid!) }));
    assert.throws(() => takeDataLock(dir), new RegExp(`data folder .* is in use by process ${other.pid} \\(stop it, or set OPAL_DATA_DIR\\)`));
    const exited = new Promise((resolve) => other.once('exit', resolve));
    other.kill('SIGKILL');
    await exited;
    const release = takeDataLock(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')).pid, process.pid);
    release();
    assert.equal(existsSync(join(dir, 'LOCK')), false);
  });

  it('takes over a lock whose pid now belongs to another process (a container restarted on the same volume)', { skip: identityOf(process.pid) ? false : 'no /proc here: a process cannot be told from another of its pid' }, () => {
    const dir = folder();
    const other = sleeper();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: other.pid, identity: `${identityOf(other.pid!)}-before` }));
    const release = takeDataLock(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')).pid, process.pid);
    release();
  });

  it('reads a lock written as a bare pid, and takes one it cannot read (a crash while writing it) or its own', () => {
    const dir = folder();
    const other = sleeper();
    writeFileSync(join(dir, 'LOCK'), String(other.pid));
    assert.throws(() => takeDataLock(dir), /is in use by process/);
    writeFileSync(join(dir, 'LOCK'), '{"pid":');
    takeDataLock(dir)();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: process.pid, identity: identityOf(process.pid) }));
    takeDataLock(dir)();
  });

  it('leaves a lock that is no longer its own at release', () => {
    const dir = folder();
    const release = takeDataLock(dir);
    const other = sleeper();
    const theirs = JSON.stringify({ pid: other.pid, identity: identityOf(other.pid!) });
    writeFileSync(join(dir, 'LOCK'), theirs);
    release();
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), theirs);
  });
});

describe('a stale lock, removed', () => {
  const gone = JSON.stringify({ pid: 2 ** 22 + 1, identity: 'gone' });
  const me = JSON.stringify({ pid: process.pid, identity: identityOf(process.pid) });

  it('only while it still says what was found stale: a lock taken meanwhile stays', () => {
    const dir = folder();
    const other = sleeper();
    const theirs = JSON.stringify({ pid: other.pid, identity: identityOf(other.pid!) });
    writeFileSync(join(dir, 'LOCK'), theirs);
    assert.equal(removeStale(join(dir, 'LOCK'), gone, me), false);
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), theirs);
    assert.deepEqual(readdirSync(dir), ['LOCK'], 'no break file is left');
  });

  it('by one process at a time: while a live process holds its break file, the others leave it', () => {
    const dir = folder();
    const other = sleeper();
    writeFileSync(join(dir, 'LOCK'), gone);
    writeFileSync(breakFileOf(join(dir, 'LOCK'), gone), JSON.stringify({ pid: other.pid, identity: identityOf(other.pid!) }));
    assert.equal(removeStale(join(dir, 'LOCK'), gone, me), false);
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), gone);
    assert.throws(() => takeDataLock(dir), /its LOCK could not be taken in 100 tries \(processes starting on it at once, or one stuck removing a stale lock: see LOCK\.break-\* there\)/);
  });

  it('also where a process died removing it: its break file is stale in turn', () => {
    const dir = folder();
    writeFileSync(join(dir, 'LOCK'), gone);
    writeFileSync(breakFileOf(join(dir, 'LOCK'), gone), JSON.stringify({ pid: 2 ** 22 + 2, identity: 'gone too' }));
    const release = takeDataLock(dir);
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), me);
    assert.deepEqual(readdirSync(dir), ['LOCK'], 'no break file is left');
    release();
  });
});

describe('the data folder lock, taken by processes starting at once', () => {
  it('goes to exactly one of them, from a stale lock as from none', { timeout: 60_000 }, async () => {
    const module = fileURLToPath(new URL('./data-lock.js', import.meta.url));
    // Each takes the lock, holds it long enough for the others to have tried, and says how it went.
    const script = `import(${JSON.stringify(module)}).then(async ({ takeDataLock }) => {
      try { const release = takeDataLock(process.argv[1]); console.log('took'); await new Promise((r) => setTimeout(r, 4000)); release(); }
      catch (e) { console.log(/in use by process/.test(e.message) ? 'refused' : 'error ' + e.message); }
    })`;
    for (const stale of [false, true]) {
      const dir = folder();
      if (stale) writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: 2 ** 22 + 1, identity: 'gone' }));
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => promisify(execFile)(process.execPath, ['-e', script, dir]).then((r) => r.stdout.trim())));
      assert.deepEqual(outcomes.sort(), [...Array<string>(7).fill('refused'), 'took'], stale ? 'from a stale lock' : 'from none');
      assert.deepEqual(readdirSync(dir), [], 'released, and no break file is left');
    }
  });
});

describe('identityOf', () => {
  it('tells this process from a pid no process has', { skip: identityOf(process.pid) ? false : 'no /proc here' }, () => {
    assert.match(identityOf(process.pid)!, /^[0-9a-f-]+\/\d+$/);
    assert.equal(identityOf(process.pid), identityOf(process.pid));
    assert.equal(identityOf(2 ** 22 + 1), undefined);
  });
});
