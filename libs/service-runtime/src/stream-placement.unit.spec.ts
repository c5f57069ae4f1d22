import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceStreams, streamsOfEventTypes } from '@opal/contracts';
import { EmbeddedEventLog, EventLogError, type NewEvent } from '@opal/event-log';
import { assertPlaced } from './stream-placement.js';
import { ProcessMetrics } from './metrics.js';

const ev = (type: string): NewEvent => ({ type, payload: new Uint8Array([1]), occurredAt: 1_700_000_000_000 });
const misplaced = (e: unknown) => e instanceof EventLogError && e.code === 'INVALID_ARGUMENT' && /^streamId: tenant-7 cannot hold opal\.ingest\.v1\.DatanetCreated/.test(e.message);

describe('stream placement', () => {
  it("takes a service's events on its own streams, and refuses them elsewhere, naming the stream", () => {
    assertPlaced('datanet-7', [ev('opal.ingest.v1.DatanetCreated'), ev('opal.ingest.v1.ContributionSubmitted')]);
    assertPlaced('tenant-7', [ev('opal.inference.v1.TenantCredited')]);
    assert.throws(() => assertPlaced('tenant-7', [ev('opal.inference.v1.TenantCredited'), ev('opal.ingest.v1.DatanetCreated')]), misplaced);
  });

  it('lets events of no service, or of a service that lists no streams, go anywhere', () => {
    assert.deepEqual(serviceStreams.settlement, []);
    assertPlaced('datanet-7', [ev('BenchEvent'), ev('opal.settlement.v1.FeeCharged'), ev('opal.nosuch.v1.Thing')]);
  });

  it('gives the streams that hold some event types, or none where they may be anywhere', () => {
    assert.deepEqual(streamsOfEventTypes(['opal.ingest.v1.DatanetVersionPublished']), ['datanet']);
    assert.deepEqual(streamsOfEventTypes(['opal.inference.v1.InferenceCompleted', 'opal.ingest.v1.DatanetCreated']), ['adapter', 'base', 'datanet', 'inference', 'tenant']);
    assert.equal(streamsOfEventTypes(['opal.ingest.v1.DatanetCreated', 'opal.settlement.v1.FeeCharged']), undefined);
    assert.equal(streamsOfEventTypes(['SomethingElse']), undefined);
    assert.equal(streamsOfEventTypes([]), undefined);
  });

  it("refuses a misplaced append through a process's log and writes none of it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-placement-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    try {
      const metered = new ProcessMetrics().meteredLog(log);
      await assert.rejects(metered.append('tenant-7', [ev('opal.ingest.v1.DatanetCreated')], { expectedVersion: 'any', producer: 't' }), misplaced);
      assert.equal(await log.streamVersion('tenant-7'), 0);
      await metered.append('datanet-7', [ev('opal.ingest.v1.DatanetCreated')], { expectedVersion: 'no_stream', producer: 't' });
      assert.equal(await log.streamVersion('datanet-7'), 1);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
