import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { listenerPid, portOf, processCpuMs } from './cpu-time.js';

const linux = process.platform === 'linux';

describe('pipeline bench CPU time', () => {
  it('finds the process listening on a port, on IPv4 and IPv6', { skip: !linux && 'needs /proc' }, async () => {
    const v4 = createServer().listen(0, '127.0.0.1');
    await once(v4, 'listening');
    const v6 = createServer().listen(0, '::1');
    const v6ok = await Promise.race([once(v6, 'listening').then(() => true), once(v6, 'error').then(() => false)]);
    try {
      assert.equal(listenerPid((v4.address() as AddressInfo).port), process.pid);
      if (v6ok) assert.equal(listenerPid((v6.address() as AddressInfo).port), process.pid);
    } finally {
      v4.close();
      v6.close();
    }
    // A port nobody listens on: the server that closed above.
    assert.equal(listenerPid((v4.address() as AddressInfo | null)?.port ?? 1), undefined);
  });

  it("counts another process's CPU time", { skip: !linux && 'needs /proc' }, async () => {
    // The child spins until it has itself used 200 ms of CPU, however busy the machine, then says so.
    const spin = 'let u; do u = process.cpuUsage(); while (u.user + u.system < 200_000); console.log("spun"); setTimeout(() => {}, 10_000);';
    const child = spawn(process.execPath, ['-e', spin], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('spun') && resolve());
        child.once('exit', () => reject(new Error('the spinning process ended early')));
      });
      const used = processCpuMs(child.pid!);
      // /proc counts in clock ticks (10 ms): allow one behind.
      assert.ok(used >= 190, `the process said it used 200 ms of CPU; /proc counted ${used}`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill();
        await once(child, 'exit');
      }
    }
  });

  it('reads the port of a broker list and of a mongodb URL', () => {
    assert.equal(portOf('127.0.0.1:9092'), 9092);
    assert.equal(portOf('127.0.0.1:9092,127.0.0.1:9094'), 9092);
    assert.equal(portOf('mongodb://127.0.0.1:27017/opal'), 27017);
    assert.equal(portOf('mongodb://user:pw@localhost:27018/opal?x=1'), 27018);
    assert.equal(portOf('mongodb://localhost/opal'), 27017);
    assert.equal(portOf('kafka.local'), undefined);
  });
});
