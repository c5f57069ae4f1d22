import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, grpcClient, OpalProcess } from '@opal/testkit';

describe('opal up with OPAL_GRPC_PORT=0', () => {
  it('serves on a port the system picked, and says which, in its log and on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-port0-'));
    const p = new OpalProcess(dir, { env: { OPAL_GRPC_PORT: '0', OPAL_LOG_LEVEL: 'info', OPAL_METRICS_PORT: '-1' } });
    try {
      await p.start();
      const said = /listening on 127\.0\.0\.1:(\d+)/.exec(p.output());
      assert.ok(said, `no address in:\n${p.output()}`);
      const port = Number(said[1]);
      assert.ok(port > 0, `listening on port ${port}`);
      // The log line may reach the pipe a moment after the stderr line start() waits for.
      const logged = `"url":"127.0.0.1:${port}"`;
      for (let waited = 0; !p.output().includes(logged) && waited < 5_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.ok(p.output().includes(logged), `no ${logged} in the log:\n${p.output()}`);
      const ingest = grpcClient(`127.0.0.1:${port}`, 'ingest');
      try {
        const r = await call<{ datanets: unknown[] }>(ingest, 'listDatanets', {});
        assert.deepEqual(r.datanets, []);
      } finally {
        ingest.close();
      }
    } finally {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
