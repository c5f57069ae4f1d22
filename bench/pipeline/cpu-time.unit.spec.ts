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
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);'], { stdio: 'ignore' });
    try {
      const before = processCpuMs(child.pid!);
      await new Promise((r) => setTimeout(r, 300));
      const after = processCpuMs(child.pid!);
      assert.ok(after - before >= 100, `a spinning process used ${after - before} ms of CPU in 300 ms`);
    } finally {
      await once(child, 'exit');
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
