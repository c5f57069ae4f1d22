import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcServing, LIVENESS_HEALTH_NAME } from './grpc-serving.js';
import { ProcessMetrics, serveMetrics } from './metrics.js';

describe('GrpcServing readiness', () => {
  it('is not ready while its read models catch up with the log at start, ready after, and not ready once it drains', async () => {
    const serving = new GrpcServing(['opal.ingest.v1.IngestService']);
    const http = await serveMetrics(new ProcessMetrics(), '127.0.0.1', 0, serving);
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${http.port}/readyz`);
      return `${res.status} ${(await res.text()).trim()}`;
    };
    try {
      assert.equal(await readyz(), '200 serving');
      let caughtUp!: () => void;
      let other!: (e: Error) => void;
      serving.holdUntil(new Promise<void>((r) => (caughtUp = r)));
      serving.holdUntil(new Promise<void>((_, reject) => (other = reject)));
      assert.equal(serving.notServing, 'read models catching up with the log');
      const health = (serving as any).health;
      assert.deepEqual([health.statusMap.get(''), health.statusMap.get('opal.ingest.v1.IngestService'), health.statusMap.get(LIVENESS_HEALTH_NAME)], ['NOT_SERVING', 'NOT_SERVING', 'SERVING'], 'ready no longer; live still');
      assert.equal(await readyz(), '503 not serving: read models catching up with the log');
      caughtUp();
      await new Promise((r) => setImmediate(r));
      assert.equal(await readyz(), '503 not serving: read models catching up with the log', 'until every hold settles');
      other(new Error('a read model stopped: the process reports it and exits'));
      await new Promise((r) => setImmediate(r));
      assert.equal(await readyz(), '200 serving');
      serving.drain();
      serving.holdUntil(new Promise(() => {}));
      assert.equal(await readyz(), '503 not serving: stopping');
      assert.equal(health.statusMap.get(LIVENESS_HEALTH_NAME), 'SERVING', 'live while it drains');
    } finally {
      await http.close();
    }
  });
});
