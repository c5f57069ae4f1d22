import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The provisioning scripts' process handling (scripts/infra/process.mjs), on throwaway processes.
type ProcessModule = {
  alive(pid: number): boolean;
  stop(config: object, name: string, graceMs?: number, options?: { kill?: boolean }): Promise<boolean>;
  running(config: object, name: string): { pid: number } | undefined;
  startDetached(config: object, name: string, command: string, args: string[], options?: object): { state: { pid: number; log: string } };
  waitUntil(what: string, probe: () => Promise<boolean>, options: object): Promise<void>;
};
const processes = (await import(new URL('../../../scripts/infra/process.mjs', import.meta.url).href)) as ProcessModule;

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'opal-infra-process-'));
  const config = { runDir: join(dir, 'run'), logDir: join(dir, 'logs'), cache: dir };
  mkdirSync(config.runDir, { recursive: true });
  return { dir, config };
}

/** Whether the process has ended: not there, or a zombie its parent (this test, perhaps) has yet to reap. */
const isGone = (pid: number) => !processes.alive(pid);

describe('infra process handling', () => {
  it('stop() returns when the server it stopped stays a zombie (a parent that never reaps it)', { timeout: 30_000 }, async () => {
    const { dir, config } = scratch();
    // A parent that starts `sleep` and never waits for it, as a PID 1 that reaps nothing would.
    // (`exec` makes the shell a `sleep`, which waits for no child.)
    const parent = spawn('sh', ['-c', 'sleep 600 & echo $!; exec sleep 120'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      writeFileSync(join(config.runDir, 'server.json'), JSON.stringify({ name: 'server', pid, marker: 'sleep' }));
      const started = Date.now();
      assert.equal(await processes.stop(config, 'server', 2000), true);
      assert.ok(Date.now() - started < 15_000, `stop took ${Date.now() - started} ms`);
      assert.equal(existsSync(join(config.runDir, 'server.json')), false);
      assert.equal(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0], 'Z', 'still a zombie: its parent never reaped it');
    } finally {
      parent.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server that does not get ready is stopped and forgotten, not taken for a running one later', async () => {
    const { dir, config } = scratch();
    try {
      const { state } = processes.startDetached(config, 'stuck', 'sleep', ['600'], { marker: 'sleep' });
      assert.ok(processes.running(config, 'stuck'));
      await assert.rejects(processes.waitUntil('stuck', async () => false, { timeoutMs: 300, pid: state.pid, log: state.log, config, name: 'stuck' }), /stuck did not answer within 0.3s \(stopped it\)/);
      assert.equal(processes.running(config, 'stuck'), undefined);
      for (let i = 0; i < 100 && !isGone(state.pid); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(isGone(state.pid), 'the process is gone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a pid file cut short is taken as no server, not an error for every later command', () => {
    const { dir, config } = scratch();
    try {
      writeFileSync(join(config.runDir, 'torn.json'), '{"name":"torn","pi');
      assert.equal(processes.running(config, 'torn'), undefined);
      assert.equal(existsSync(join(config.runDir, 'torn.json')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("down --abandoned-instances kills the servers of test instances whose test process is gone, and leaves a live one's", () => {
    const cache = mkdtempSync(join(tmpdir(), 'opal-infra-instances-'));
    const instance = (name: string) => ({ runDir: join(cache, 'instances', name, 'run'), logDir: join(cache, 'instances', name, 'logs'), cache });
    const gone = instance('fault-kafka-999999999');
    const live = instance(`fault-kafka-${process.pid}`);
    try {
      const orphan = processes.startDetached(gone, 'anvil', 'sleep', ['600'], { marker: 'sleep' }).state.pid;
      const kept = processes.startDetached(live, 'anvil', 'sleep', ['600'], { marker: 'sleep' }).state.pid;
      const script = new URL('../../../scripts/infra/infra.mjs', import.meta.url).pathname;
      const r = spawnSync(process.execPath, [script, 'down', '--abandoned-instances'], { env: { ...process.env, OPAL_INFRA_CACHE: cache }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /fault-kafka-999999999: anvil killed \(its test process 999999999 is gone\)/);
      assert.equal(existsSync(join(cache, 'instances', 'fault-kafka-999999999')), false);
      assert.ok(processes.running(live, 'anvil'), 'the instance of a test process still running is left');
      for (let i = 0; i < 100 && !isGone(orphan); i++) spawnSync('sleep', ['0.05']);
      assert.ok(isGone(orphan));
      process.kill(kept, 'SIGKILL');
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
