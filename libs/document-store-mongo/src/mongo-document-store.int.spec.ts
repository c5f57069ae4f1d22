import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { ensureInfra } from '@opal/test-infra';
import { DocumentConflictError, MemoryDocumentStore, type Doc } from '@opal/event-sourcing';
import { documentStoreContract } from '@opal/event-sourcing/testing';
import { MongoDocumentStore } from './mongo-document-store.js';
import { decodeGuard, encodeGuard } from './stored-layout.js';

const infra = await ensureInfra(['mongo']);
if (infra.skipped) console.log(`# mongo document store: ${infra.reason}`);
else {
  const base = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, '');
  const scratch = () => `${base}/opal_contract_${process.pid}_${Date.now()}`;
  documentStoreContract('mongodb', async () => {
    const url = scratch();
    const store = await MongoDocumentStore.connect({ url });
    return {
      store,
      peer: () => MongoDocumentStore.connect({ url }),
      async cleanup() {
        await store.dropDatabase();
        await store.close();
      },
    };
  });

  describe('MongoDocumentStore layout', () => {
    let store: MongoDocumentStore;
    let client: MongoClient;
    let url: string;
    before(async () => {
      url = scratch();
      store = await MongoDocumentStore.connect({ url });
      client = await new MongoClient(url).connect();
    });
    after(async () => {
      await store.dropDatabase();
      await store.close();
      await client.close();
    });

    it('stores a document flat next to its guard, and hides the guard from reads', async () => {
      await store.prepare('layout', [{ name: 'flat', indexes: ['kind'] }]);
      await store.commit('layout', [{ collection: 'flat', id: 'a', doc: { kind: 'x', n: 1 } }], { cursor: {}, streams: {}, applied: 1 });
      const raw = await client.db().collection('flat').findOne({ _id: 'a' as never });
      assert.deepEqual(raw, { _id: 'a', kind: 'x', n: 1, _g: '[1]' });
      assert.deepEqual(await store.get('flat', 'a'), { kind: 'x', n: 1 });
      assert.deepEqual((await store.find('flat', { where: { kind: 'x' } })).items, [{ kind: 'x', n: 1 }]);
    });

    it("refuses a document that uses the store's own field names, naming the field", async () => {
      await store.prepare('layout', [{ name: 'reserved', indexes: [] }]);
      for (const field of ['_id', '_g', '_deleted']) {
        await assert.rejects(
          store.commit('layout', [{ collection: 'reserved', id: 'a', doc: { [field]: 1 } }], { cursor: {}, streams: {}, applied: 1 }),
          new RegExp(`field ${field} is reserved`),
        );
      }
      assert.equal((await store.digest('reserved')).documents, 0);
    });

    it('digests a page of documents at a time, as the memory store would all at once, ids past U+FFFF included', async () => {
      const paged = await MongoDocumentStore.connect({ url, digestPage: 3 });
      const memory = new MemoryDocumentStore();
      try {
        for (const s of [store, memory] as const) await s.prepare('paged', [{ name: 'paged', indexes: [] }]);
        // 10 documents (pages of 3, 3, 3, 1), one deleted (a tombstone, left out).
        const writes = Array.from({ length: 10 }, (_, i) => ({ collection: 'paged', id: `d${String(i).padStart(2, '0')}`, doc: { n: i } as Doc | null }));
        for (const s of [store, memory] as const) {
          await s.commit('paged', writes, { cursor: {}, streams: {}, applied: 10 });
          await s.commit('paged', [{ collection: 'paged', id: 'd04', doc: null }], { cursor: {}, streams: {}, applied: 11 });
        }
        const expected = await memory.digest('paged');
        assert.equal(expected.documents, 9);
        assert.deepEqual(await paged.digest('paged'), expected);
        assert.deepEqual(await store.digest('paged'), expected);
        // The server puts U+FFFD before U+1F600 (code points), JavaScript after (UTF-16 units).
        const astral = [{ collection: 'paged', id: '\uFFFD', doc: { n: 'a' } }, { collection: 'paged', id: '\u{1F600}', doc: { n: 'b' } }];
        for (const s of [store, memory] as const) await s.commit('paged', astral, { cursor: {}, streams: {}, applied: 12 });
        assert.deepEqual(await paged.digest('paged'), await memory.digest('paged'));
      } finally {
        await paged.close();
      }
    });

    it('takes unseen documents as new once a read found none of them; a wrong guess conflicts and is read again', async () => {
      const c = 'fresh';
      await store.prepare('layout', [{ name: c, indexes: [] }]);
      const peer = await MongoDocumentStore.connect({ url });
      try {
        const none = await store.getGuarded(c, Array.from({ length: 100 }, (_, i) => `n${i}`));
        assert.equal(none.size, 0);
        // Another process creates a document this one has not seen.
        const first = { collection: c, id: 'x', doc: { by: 'peer' }, guard: { applied: { p0: 1 }, rev: 1 }, expectedRev: 0 };
        await peer.commitGuarded('layout', [first], { cursor: {}, streams: {}, applied: 1 });
        assert.equal((await store.getGuarded(c, ['x'])).size, 0, 'taken as new without a read');
        const mine = { ...first, doc: { by: 'me' } };
        await assert.rejects(store.commitGuarded('layout', [mine], { cursor: {}, streams: {}, applied: 1 }), DocumentConflictError);
        assert.deepEqual((await store.getGuarded(c, ['x'])).get('x')?.doc, { by: 'peer' }, 'read after the conflict');
        assert.deepEqual(await store.get(c, 'x'), { by: 'peer' });
      } finally {
        await peer.close();
      }
    });

    it('lets exactly one of two processes that read the same revision replace it, round after round', async () => {
      const c = 'contended';
      await store.prepare('layout', [{ name: c, indexes: [] }]);
      const peer = await MongoDocumentStore.connect({ url });
      try {
        const start = { collection: c, id: 'n', doc: { n: 0 }, guard: { applied: { p0: 0 }, rev: 1 }, expectedRev: 0 };
        await store.commitGuarded('layout', [start], { cursor: {}, streams: {}, applied: 0 });
        for (let round = 1; round <= 60; round++) {
          // Both read the document as it is, then both write the next revision at once.
          const [mine, theirs] = await Promise.all([store.getGuarded(c, ['n']), peer.getGuarded(c, ['n'])]);
          const next = (seen: typeof mine, by: string) => {
            const g = seen.get('n')!;
            return { collection: c, id: 'n', doc: { n: (g.doc as { n: number }).n + 1, by }, guard: { applied: { p0: round, [by]: round }, rev: g.guard.rev + 1 }, expectedRev: g.guard.rev };
          };
          const outcomes = await Promise.allSettled([
            store.commitGuarded('layout', [next(mine, 'me')], { cursor: {}, streams: {}, applied: round }),
            peer.commitGuarded('layout', [next(theirs, 'peer')], { cursor: {}, streams: {}, applied: round }),
          ]);
          for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof DocumentConflictError, String(o.reason));
          assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, `round ${round}: one write of the next revision is taken`);
        }
        const final = (await store.getGuarded(c, ['n'])).get('n')!;
        assert.equal((final.doc as { n: number }).n, final.guard.rev - 1, 'every taken write moved the count on by one');
      } finally {
        await peer.close();
      }
    });

    it('lets exactly one of two processes replace each document when both write the same many documents at once', async () => {
      const c = 'contended_many';
      const ids = Array.from({ length: 300 }, (_, i) => `d${String(i).padStart(3, '0')}`);
      await store.prepare('layout', [{ name: c, indexes: [] }]);
      const peer = await MongoDocumentStore.connect({ url });
      try {
        const start = ids.map((id) => ({ collection: c, id, doc: { n: 0 }, guard: { applied: { p0: 0 }, rev: 1 }, expectedRev: 0 }));
        await store.commitGuarded('layout', start, { cursor: {}, streams: {}, applied: 0 });
        const landed = (o: PromiseSettledResult<void>) => {
          if (o.status === 'fulfilled') return ids.length;
          assert.ok(o.reason instanceof DocumentConflictError, String(o.reason));
          return ids.length - Number(/^(\d+) document/.exec(o.reason.message)![1]);
        };
        for (let round = 1; round <= 12; round++) {
          const [mine, theirs] = await Promise.all([store.getGuarded(c, ids), peer.getGuarded(c, ids)]);
          const next = (seen: typeof mine, by: string) =>
            ids.map((id) => {
              const g = seen.get(id)!;
              return { collection: c, id, doc: { n: (g.doc as { n: number }).n + 1, by }, guard: { applied: { p0: round, [by]: round }, rev: g.guard.rev + 1 }, expectedRev: g.guard.rev };
            });
          const outcomes = await Promise.allSettled([
            store.commitGuarded('layout', next(mine, 'me'), { cursor: {}, streams: {}, applied: round }),
            peer.commitGuarded('layout', next(theirs, 'peer'), { cursor: {}, streams: {}, applied: round }),
          ]);
          // A document both took as written would count twice; one neither took, not at all.
          assert.equal(landed(outcomes[0]) + landed(outcomes[1]), ids.length, `round ${round}: each document's next revision is taken once`);
        }
        const final = await store.getGuarded(c, ids);
        for (const id of ids) assert.equal((final.get(id)!.doc as { n: number }).n, 12, `${id} moved on once per round`);
      } finally {
        await peer.close();
      }
    });

    it("indexes a sorted list's field with the order's keys and _id, and drops the field's index from before", async () => {
      const order = [
        { field: 'kind', order: 'asc' },
        { field: 'score', order: 'desc' },
      ] as const;
      await store.prepare('sorted', [{ name: 'ranked', indexes: ['kind', 'owner'] }]);
      await store.prepare('sorted', [{ name: 'ranked', indexes: ['kind', 'owner'], sorted: { kind: order, owner: order } }]);
      await store.prepare('sorted', [{ name: 'ranked', indexes: ['kind', 'owner'], sorted: { kind: order, owner: order } }]); // idempotent
      const indexes = (await client.db().collection('ranked').listIndexes().toArray()).map((i) => [i.name, i.key]);
      assert.deepEqual(indexes.sort(), [
        ['_id_', { _id: 1 }],
        ['kind,-score', { kind: 1, score: -1, _id: 1 }],
        ['owner,kind,-score', { owner: 1, kind: 1, score: -1, _id: 1 }],
      ]);
      const writes = [5, 7, 7, 1].map((score, i) => ({ collection: 'ranked', id: `r${i}`, doc: { kind: i < 3 ? 'a' : 'b', owner: 'o', score } }));
      await store.commit('sorted', writes, { cursor: {}, streams: {}, applied: 4 });
      const page = await store.find('ranked', { where: { kind: 'a' }, sort: order, limit: 2 });
      assert.deepEqual(page, { items: [writes[1]!.doc, writes[2]!.doc], total: 3 });
    });

    it('matches a string equality as MongoDB does on the server: values, arrays that hold them, escaped strings', async () => {
      // The local server narrows such equalities through the field's index and checks them again
      // in its writes (scripts/infra/ferretdb.mjs); neither may change what they match.
      const raw = client.db().collection<{ _id: string; tag?: unknown; v?: number }>('equality');
      await raw.createIndex({ tag: 1 });
      await raw.insertMany([
        { _id: 'a', tag: 'x' },
        { _id: 'b', tag: ['y', 'x'] },
        { _id: 'c', tag: 'y' },
        { _id: 'd', tag: 'a<b"c' },
        { _id: 'e', tag: 'é' },
        { _id: 'f', tag: '[x' },
        { _id: 'g', tag: { k: 'x' } },
        { _id: 'h' },
      ]);
      const ids = async (filter: Record<string, unknown>) => {
        const found = (await raw.find(filter).toArray()).map((d) => d._id).sort();
        assert.equal(await raw.countDocuments(filter), found.length, `count of ${JSON.stringify(filter)}`);
        return found;
      };
      assert.deepEqual(await ids({ tag: 'x' }), ['a', 'b']);
      assert.deepEqual(await ids({ tag: 'y' }), ['b', 'c']);
      assert.deepEqual(await ids({ tag: 'a<b"c' }), ['d']);
      assert.deepEqual(await ids({ tag: 'é' }), ['e']);
      assert.deepEqual(await ids({ tag: '[x' }), ['f']);
      assert.deepEqual(await ids({ tag: 'x', _id: 'b' }), ['b']);
      assert.deepEqual(await ids({ tag: 'z' }), []);
      // Conditional writes: an array that holds the value matches; a value that is gone does not.
      const r = await raw.bulkWrite(
        [
          { replaceOne: { filter: { _id: 'b', tag: 'x' }, replacement: { tag: ['y'], v: 1 } } },
          { replaceOne: { filter: { _id: 'a', tag: 'y' }, replacement: { tag: 'z', v: 1 } } },
        ],
        { ordered: false },
      );
      assert.equal(r.matchedCount, 1);
      const again = await raw.bulkWrite(
        [
          { replaceOne: { filter: { _id: 'b', tag: 'x' }, replacement: { tag: 'x', v: 2 } } },
          { replaceOne: { filter: { _id: 'c', tag: 'y' }, replacement: { tag: 'y', v: 2 } } },
        ],
        { ordered: false },
      );
      assert.equal(again.matchedCount, 1);
      assert.equal((await raw.updateMany({ tag: 'y' }, { $set: { v: 3 } })).matchedCount, 2);
      assert.deepEqual(await raw.find({ v: { $exists: true } }, { projection: { v: 1 } }).sort({ _id: 1 }).toArray(), [
        { _id: 'b', v: 3 },
        { _id: 'c', v: 3 },
      ]);
    });

    it('refuses a collection written in the earlier layout instead of reading it as empty documents', async () => {
      await client.db().collection('legacy').insertOne({ _id: 'a' as never, doc: { kind: 'x' }, _applied: [{ p: 'p0', o: 1 }], _rev: 1 });
      await assert.rejects(store.prepare('legacy', [{ name: 'legacy', indexes: [] }]), /collection legacy: holds read models in an earlier layout/);
    });

    it('takes over a checkpoint of an earlier release (a cursor list, no revision) at its next write, its offsets kept', async () => {
      const id = `legacy-checkpoint-${process.pid}`;
      await client.db().collection('_checkpoints').insertOne({ _id: id as never, cursor: [{ p: 'opal.ingest/0', o: 5 }, { p: 'opal.ingest/1', o: 2 }], applied: 3 });
      await store.prepare(id, []);
      await store.commitGuarded(id, [], { cursor: { 'opal.ingest/1': 8 }, streams: {}, applied: 4 });
      assert.deepEqual(await store.loadCheckpoint(id), { cursor: { 'opal.ingest/0': 5, 'opal.ingest/1': 8 }, streams: {}, applied: 4, version: 1 });
      const stored = await client.db().collection('_checkpoints').findOne({ _id: id as never });
      assert.deepEqual(stored, { _id: id, at: { 'opal%2Eingest/0': 5, 'opal%2Eingest/1': 8 }, applied: 4, version: 1, rev: '1' });
      await store.reset(id, []);
    });
  });
}

describe('MongoDocumentStore guard string', () => {
  it('encodes one guard as one string whatever the order of its partitions, and decodes it back', () => {
    const a = { rev: 7, applied: { 'opal.ingest/2': 10, 'opal.ingest/0': 3 } };
    const b = { rev: 7, applied: { 'opal.ingest/0': 3, 'opal.ingest/2': 10 } };
    assert.equal(encodeGuard(a), encodeGuard(b));
    assert.equal(encodeGuard(a), '[7,"opal.ingest/0",3,"opal.ingest/2",10]');
    assert.deepEqual(decodeGuard(encodeGuard(a)), b);
    assert.deepEqual(decodeGuard(encodeGuard({ rev: 1, applied: {} })), { rev: 1, applied: {} });
  });
});
