import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { ensureInfra } from '@opal/test-infra';
import { MongoSnapshotStore } from './mongo-snapshot-store.js';

const infra = await ensureInfra(['mongo']);
if (infra.skipped) console.log(`# mongo snapshot store: ${infra.reason}`);
else {
  describe('MongoSnapshotStore', () => {
    it('keeps the newest snapshot of a stream whichever replica saves last, and reads it back exactly', async () => {
      const url = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_snapshots_${process.pid}_${Date.now()}`);
      const client = await new MongoClient(url).connect();
      const [a, b] = [await MongoSnapshotStore.connect({ url, client }), await MongoSnapshotStore.connect({ url, client })];
      const at = (streamVersion: number) => ({ schema: 1, streamVersion, hash: String(streamVersion).padStart(64, '0'), state: new Uint8Array([streamVersion, 0, 255]) });
      try {
        assert.equal(await a.load('tenant-x'), undefined);
        await a.save('tenant-x', at(10));
        await b.save('tenant-x', at(30));
        await a.save('tenant-x', at(20)); // a replica that loaded the stream before the other's snapshot
        assert.deepEqual(await b.load('tenant-x'), at(30));
        for (let round = 0; round < 5; round++) {
          // Both insert the stream's first snapshot at once, in either order.
          const stream = `tenant-y${round}`;
          await Promise.all(round % 2 ? [a.save(stream, at(5)), b.save(stream, at(6))] : [b.save(stream, at(6)), a.save(stream, at(5))]);
          assert.deepEqual(await a.load(stream), at(6));
        }
        await a.save('tenant-z', { ...at(1), state: new Uint8Array(16 << 20) }); // over a document's size: not kept
        assert.equal(await a.load('tenant-z'), undefined);
      } finally {
        await client.db().dropDatabase();
        await client.close();
      }
    });
  });
}
