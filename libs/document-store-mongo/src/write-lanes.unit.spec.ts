import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoNetworkError, type Collection } from 'mongodb';
import { writeInLanes, type CollectionWrites } from './write-lanes.js';
import type { Stored } from './stored-layout.js';

/** A stand-in collection whose every bulk write fails, as with the server gone; it counts the commands it was sent. */
function goneCollection(sent: { n: number }): Collection<Stored> {
  return {
    bulkWrite: async () => {
      sent.n++;
      await new Promise((r) => setTimeout(r, 1));
      throw new MongoNetworkError('connection refused');
    },
  } as unknown as Collection<Stored>;
}

const insertOf = (id: string) => ({ insertOne: { document: { _id: id } as Stored } });

describe('writeInLanes', () => {
  it('given more commands than lanes and the server gone, then every collection comes back failed, those never sent too', async () => {
    const sent = { n: 0 };
    const writes: CollectionWrites[] = Array.from({ length: 6 }, (_, i) => ({ collection: goneCollection(sent), inserts: [insertOf(`d${i}`)], replaces: [] }));
    const { outcomes, failure } = await writeInLanes(writes);
    assert.ok(failure instanceof MongoNetworkError);
    assert.equal(sent.n, 4, 'each of the four lanes stopped at its first failed command');
    assert.deepEqual(
      outcomes.map((o) => o.failed),
      [true, true, true, true, true, true],
    );
  });
});
