import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EventLog, StoredEvent } from '@opal/event-log';
import type { Doc, DocumentStore } from '../document-store.port.js';
import type { DomainEvent } from '../domain-event.js';
import { MemoryDocumentStore } from '../memory-document-store.js';
import type { Projection } from '../projection.js';
import { ProjectionRunner } from '../projection-runner.js';
import { TypedEventCodec } from '../typed-event-codec.js';

export type DocumentStoreSubject = {
  readonly store: DocumentStore;
  /** Another connection to the same data, as a second process holds it (stores shared by processes). */
  peer?(): Promise<DocumentStore>;
  cleanup(): Promise<void>;
};

type Accepted = DomainEvent<'ContributionAccepted', { datanetId: string; contributionId: string; contributor: string; contentHash: string; sizeBytes: number }>;
const codec = new TypedEventCodec<Accepted>('opal.ingest.v1', ['ContributionAccepted']);

let unique = 0;
/** A read model touched from many streams: one document per contribution, one total per datanet. */
function testProjection(tag: string): Projection<Accepted> {
  const contributions = `contract_contributions_${tag}`;
  const datanets = `contract_datanets_${tag}`;
  return {
    name: `contract.${tag}`,
    codec,
    collections: [
      { name: contributions, indexes: ['datanetId'] },
      { name: datanets, indexes: [] },
    ],
    route: (e) => [
      { collection: contributions, id: e.data.contributionId },
      { collection: datanets, id: e.data.datanetId },
    ],
    evolve(ref, doc, e) {
      if (ref.collection === contributions) return { datanetId: e.data.datanetId, bytes: e.data.sizeBytes, seq: e.meta.streamSeq };
      const d = (doc ?? { count: 0, bytes: 0 }) as { count: number; bytes: number };
      return { count: d.count + 1, bytes: d.bytes + e.data.sizeBytes };
    },
  };
}

/** Version 2 of testProjection's documents: each contribution's size in kilobytes as well. */
function withKb(doc: Doc | null | undefined): Doc | null | undefined {
  return doc && typeof doc.bytes === 'number' && 'seq' in doc ? { ...doc, kb: Math.ceil(doc.bytes / 1024) } : doc;
}

/** Stored events as a log would deliver them: `streams` streams over `partitions` partitions, offsets in order. */
function events(count: number, streams: number, partitions = 1): StoredEvent[] {
  const next = new Map<string, number>();
  const out: StoredEvent[] = [];
  const seqs = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const streamId = `datanet-${i % streams}`;
    const seq = (seqs.get(streamId) ?? 0) + 1;
    seqs.set(streamId, seq);
    const e = codec.encode({ type: 'ContributionAccepted', data: { datanetId: streamId, contributionId: `c${i}`, contributor: '0xabc', contentHash: 'ff', sizeBytes: i % 97 } }, 1_700_000_000_000);
    const position = (partition: string) => {
      const offset = next.get(partition) ?? 0;
      next.set(partition, offset + 1);
      return { partition, offset };
    };
    out.push({ ...e, streamId, streamSeq: seq, eventId: `${streamId}/${seq}`, producer: 'contract', prevHash: new Uint8Array(32), hash: new Uint8Array(32), schemaVersion: 1, correlationId: '', causationId: '', position: position(`p${(i % streams) % partitions}`) } as unknown as StoredEvent);
  }
  return out;
}

/** A log that delivers nothing: the tests hand batches to the runner themselves. */
const idleLog = { subscribe: () => ({ caughtUp: async () => {}, cursor: () => ({}), stop: async () => {} }) } as unknown as EventLog;

async function digests(store: DocumentStore, p: Projection<Accepted>): Promise<string[]> {
  return Promise.all(p.collections.map(async (c) => JSON.stringify(await store.digest(c.name))));
}

/** What every DocumentStore must do; MemoryDocumentStore and MongoDocumentStore both run it. */
export function documentStoreContract(adapter: string, factory: () => Promise<DocumentStoreSubject>): void {
  describe(`DocumentStore contract: ${adapter}`, () => {
    let subject: DocumentStoreSubject;
    let store: DocumentStore;
    before(async () => {
      subject = await factory();
      store = subject.store;
    });
    after(async () => subject.cleanup());

    it('commits documents with their checkpoint, reads them back, deletes, resets', async () => {
      const c = `contract_docs_${process.pid}_${unique++}`;
      const p = `contract.docs.${unique}`;
      await store.prepare(p, [{ name: c, indexes: ['kind'] }]);
      await store.prepare(p, [{ name: c, indexes: ['kind'] }]); // idempotent
      assert.equal(await store.loadCheckpoint(p), undefined);
      assert.equal(await store.get(c, 'a'), undefined);
      const writes = ['a', 'b', 'c', 'd'].map((id, i) => ({ collection: c, id, doc: { kind: i % 2 ? 'odd' : 'even', n: i, nested: { list: [i, `${i}`], flag: true } } }));
      await store.commit(p, writes, { cursor: { 'p0': 4 }, streams: {}, applied: 4 });
      assert.deepEqual(await store.get(c, 'b'), writes[1]!.doc);
      assert.deepEqual([...(await store.getMany(c, ['a', 'x', 'c'])).keys()].sort(), ['a', 'c']);
      const cp = await store.loadCheckpoint(p);
      assert.deepEqual(cp?.cursor, { 'p0': 4 });
      assert.equal(cp?.applied, 4);
      const odd = await store.find(c, { where: { kind: 'odd' }, sort: [{ field: 'n', order: 'desc' }] });
      assert.equal(odd.total, 2);
      assert.deepEqual(odd.items.map((d) => d.n), [3, 1]);
      const page = await store.find(c, { sort: [{ field: 'n', order: 'asc' }], offset: 1, limit: 2 });
      assert.deepEqual([page.total, page.items.map((d) => d.n)], [4, [1, 2]]);
      await store.commit(p, [{ collection: c, id: 'a', doc: null }], { cursor: { 'p0': 5 }, streams: {}, applied: 5 });
      assert.equal(await store.get(c, 'a'), undefined);
      assert.equal((await store.find(c, {})).total, 3);
      // A deleted document is in no query's answer, nor its total, with or without conditions.
      const even = await store.find(c, { where: { kind: 'even' }, sort: [{ field: 'n', order: 'asc' }] });
      assert.deepEqual([even.total, even.items.map((d) => d.n)], [1, [2]]);
      assert.deepEqual((await store.list(c, { where: { kind: 'even' } })).map((d) => d.n), [2]);
      assert.deepEqual((await store.list(c, { sort: [{ field: 'n', order: 'asc' }] })).map((d) => d.n), [1, 2, 3]);
      assert.equal((await store.digest(c)).documents, 3);
      await store.reset(p, [c]);
      assert.equal(await store.loadCheckpoint(p), undefined);
      assert.equal((await store.digest(c)).documents, 0);
    });

    it('pages a sorted list alike from anywhere in it, equal keys in id order', async () => {
      const c = `contract_pages_${process.pid}_${unique++}`;
      const p = `contract.pages.${unique}`;
      const sort = [{ field: 'rank', order: 'desc' }] as const;
      await store.prepare(p, [{ name: c, indexes: ['group'], sorted: { group: sort } }]);
      const writes = Array.from({ length: 3000 }, (_, i) => ({ collection: c, id: `d${String(i).padStart(5, '0')}`, doc: { group: i % 3 === 0 ? 'a' : 'b', rank: (i * 7919) % 97, n: i } }));
      await store.commit(p, writes, { cursor: {}, streams: {}, applied: 3000 });
      // A stable sort of the documents in id order: equal ranks stay in id order.
      const all = writes.map((w) => w.doc).filter((d) => d.group === 'b').sort((x, y) => y.rank - x.rank);
      for (const [offset, limit] of [[0, 1], [0, 20], [5, 10], [990, 30], [0, 1024], [1000, 100], [1990, 50]] as const) {
        const page = await store.find(c, { where: { group: 'b' }, sort, offset, limit });
        assert.equal(page.total, all.length);
        assert.deepEqual(page.items, all.slice(offset, offset + limit), `offset ${offset}, limit ${limit}`);
        // The same page without its count.
        assert.deepEqual(await store.list(c, { where: { group: 'b' }, sort, offset, limit }), page.items, `list: offset ${offset}, limit ${limit}`);
      }
      const unsorted = await store.find(c, { where: { group: 'a' } });
      assert.equal(unsorted.total, 1000);
    });

    it('pages a sorted list from after a place in it as from an offset, equal keys in id order whatever the order written', async () => {
      const c = `contract_after_${process.pid}_${unique++}`;
      const p = `contract.after.${unique}`;
      const sort = [{ field: 'rank', order: 'desc' }, { field: 'tag', order: 'asc' }] as const;
      await store.prepare(p, [{ name: c, indexes: ['group'], sorted: { group: sort } }]);
      // Written in reverse id order, so that id order is not the order written.
      const writes = Array.from({ length: 400 }, (_, i) => 399 - i).map((i) => ({ collection: c, id: `d${String((i * 7) % 400).padStart(5, '0')}`, doc: { group: i % 4 === 0 ? 'a' : 'b', rank: (i * 31) % 11, tag: i % 3 === 0 ? 'x' : 'y', n: i } }));
      await store.commit(p, writes, { cursor: {}, streams: {}, applied: 400 });
      const idOf = new Map(writes.map((w) => [w.doc, w.id]));
      const all = writes.map((w) => w.doc).filter((d) => d.group === 'b').sort((x, y) => y.rank - x.rank || (x.tag < y.tag ? -1 : x.tag > y.tag ? 1 : 0) || (idOf.get(x)! < idOf.get(y)! ? -1 : 1));
      assert.deepEqual((await store.find(c, { where: { group: 'b' }, sort, offset: 100, limit: 50 })).items, all.slice(100, 150));
      for (const limit of [7, 137, 2000]) {
        const seen: unknown[] = [];
        let after: { keys: (string | number)[]; id: string } | undefined;
        for (let pages = 0; pages < 100; pages++) {
          const page = await store.find(c, { where: { group: 'b' }, sort, limit, ...(after ? { after } : {}) });
          assert.equal(page.total, all.length, 'total counts the whole list');
          assert.deepEqual(await store.list(c, { where: { group: 'b' }, sort, limit, ...(after ? { after } : {}) }), page.items);
          if (page.items.length === 0) break;
          seen.push(...page.items);
          const last = page.items.at(-1)!;
          const id = writes.find((w) => w.doc.n === last.n)!.id;
          after = { keys: [last.rank as number, last.tag as string], id };
        }
        assert.deepEqual(seen, all, `pages of ${limit}`);
      }
      // From a place that no document holds: the next one after it.
      const at = all[40]!;
      const next = await store.find(c, { where: { group: 'b' }, sort, limit: 2, after: { keys: [at.rank, at.tag], id: `${idOf.get(at)!}~` } });
      assert.deepEqual(next.items, all.slice(41, 43));
    });

    it('matches a field holding a list when one of its elements equals the value, indexed or not, as it changes', async () => {
      const c = `contract_lists_${process.pid}_${unique++}`;
      const p = `contract.lists.${unique}`;
      const sort = [{ field: 'n', order: 'asc' }] as const;
      await store.prepare(p, [{ name: c, indexes: ['tags'], sorted: { tags: sort } }]);
      const doc = (n: number, tags: unknown, labels: unknown) => ({ n, tags, labels, kind: n % 2 ? 'odd' : 'even' });
      const put = (id: string, d: Doc | null, at: number) => store.commit(p, [{ collection: c, id, doc: d }], { cursor: { p0: at }, streams: {}, applied: at });
      await store.commit(p, [
        { collection: c, id: 'a', doc: doc(1, ['x', 'y'], ['x', 'y']) },
        { collection: c, id: 'b', doc: doc(2, ['y'], ['y']) },
        { collection: c, id: 'c', doc: doc(3, 'x', 'x') },
        { collection: c, id: 'd', doc: doc(4, [], []) },
        { collection: c, id: 'e', doc: doc(5, ['yx', 'X'], ['yx', 'X']) },
      ], { cursor: { p0: 5 }, streams: {}, applied: 5 });
      const ids = async (where: Record<string, string>) => {
        const r = await store.find(c, { where, sort });
        assert.equal(r.total, r.items.length);
        return r.items.map((d) => d.n);
      };
      for (const field of ['tags', 'labels']) {
        assert.deepEqual(await ids({ [field]: 'x' }), [1, 3], field);
        assert.deepEqual(await ids({ [field]: 'y' }), [1, 2], field);
        assert.deepEqual(await ids({ [field]: 'z' }), [], field);
        assert.deepEqual(await ids({ [field]: 'y', kind: 'even' }), [2], field);
      }
      const page = await store.find(c, { where: { tags: 'y' }, sort, offset: 1, limit: 1 });
      assert.deepEqual([page.total, page.items.map((d) => d.n)], [2, [2]]);
      // Changed and deleted documents leave the lists they are no longer in.
      await put('a', doc(1, ['y'], ['y']), 6);
      await put('b', null, 7);
      await put('d', doc(4, ['x'], ['x']), 8);
      for (const field of ['tags', 'labels']) {
        assert.deepEqual(await ids({ [field]: 'x' }), [3, 4], field);
        assert.deepEqual(await ids({ [field]: 'y' }), [1], field);
      }
    });

    it('reads what another process wrote after this one looked for it or remembered it', async () => {
      const c = `contract_late_${process.pid}_${unique++}`;
      const p = `contract.late.${unique}`;
      await store.prepare(p, [{ name: c, indexes: [] }]);
      const other = subject.peer ? await subject.peer() : store;
      try {
        await store.commit(p, [{ collection: c, id: 'mine', doc: { v: 1 } }], { cursor: {}, streams: {}, applied: 1 });
        assert.equal((await store.getMany(c, ['late'])).size, 0);
        await other.commit(p, [{ collection: c, id: 'late', doc: { v: 1 } }, { collection: c, id: 'mine', doc: { v: 2 } }], { cursor: {}, streams: {}, applied: 2 });
        const got = await store.getMany(c, ['late', 'mine']);
        assert.deepEqual([got.get('late'), got.get('mine')], [{ v: 1 }, { v: 2 }]);
      } finally {
        if (other !== store) await other.close();
      }
    });

    it('digest covers only the documents, and equals the memory store for the same documents', async () => {
      const c = `contract_digest_${process.pid}_${unique++}`;
      const ref = new MemoryDocumentStore();
      const writes = ['z', 'a', 'ä', 'm'].map((id, i) => ({ collection: c, id, doc: { b: i, a: { y: [1, 2], x: 'é' } } }));
      for (const s of [store, ref]) {
        await s.prepare('contract.digest', [{ name: c, indexes: [] }]);
        await s.commit('contract.digest', writes, { cursor: {}, streams: {}, applied: 0 });
      }
      assert.deepEqual(await store.digest(c), await ref.digest(c));
    });

    it('a projection applied with redelivered and repeated batches gives the digest of one clean pass', async () => {
      const tag = `${process.pid}_${unique++}`;
      const p = testProjection(tag);
      const all = events(600, 7);
      const clean = new MemoryDocumentStore();
      const once = new ProjectionRunner(null as never, clean, p);
      await clean.prepare(p.name, p.collections);
      await once.apply(all);

      await store.prepare(p.name, p.collections);
      const runner = new ProjectionRunner(null as never, store, p);
      for (let i = 0; i < all.length; i += 50) {
        await runner.apply(all.slice(i, i + 50));
        if (i % 100 === 0) await runner.apply(all.slice(Math.max(0, i - 30), i + 50)); // redelivery, overlapping
      }
      // A restarted process forgets what it has applied; only the store remembers.
      const restarted = new ProjectionRunner(idleLog, store, p);
      await restarted.start();
      await restarted.apply(all.slice(200, 400));
      assert.deepEqual(await digests(store, p), await digests(clean, p));
    });

    it('a new version of a projection builds its read model again from offset zero, then resumes its own', async () => {
      const tag = `${process.pid}_${unique++}`;
      const v1 = testProjection(tag);
      // Version 2 keeps each contribution's size in kilobytes too: what version 1 stored lacks it.
      const v2: Projection<Accepted> = { ...v1, version: 2, evolve: (ref, doc, e) => withKb(v1.evolve(ref, doc, e)) };
      const all = events(300, 5);
      const clean = new MemoryDocumentStore();
      await clean.prepare(v2.name, v2.collections, 2);
      await new ProjectionRunner(null as never, clean, v2).apply(all);

      const old = new ProjectionRunner(idleLog, store, v1);
      await old.start();
      await old.apply(all.slice(0, 200));
      const rebuilt: { stored: number; current: number }[] = [];
      const upgraded = new ProjectionRunner(idleLog, store, v2, { onRebuild: (v) => rebuilt.push(v) });
      await upgraded.start();
      assert.equal(upgraded.appliedEvents, 0, 'version 2 starts from offset zero');
      await upgraded.apply(all);
      assert.deepEqual(await digests(store, v2), await digests(clean, v2));
      assert.equal((await store.loadCheckpoint(v2.name))?.version, 2);
      // Restarted, version 2 goes on from its own checkpoint.
      const again = new ProjectionRunner(idleLog, store, v2, { onRebuild: (v) => rebuilt.push(v) });
      await again.start();
      assert.equal(again.appliedEvents, 300);
      // A store of one process had version 1's state and drops it; a shared one never had it under version 2's names.
      assert.ok(rebuilt.length <= 1 && rebuilt.every((v) => v.stored === 1 && v.current === 2), JSON.stringify(rebuilt));
    });

    it('two runners on different partitions writing the same documents at once lose no update', async () => {
      const tag = `${process.pid}_${unique++}`;
      const p = testProjection(tag);
      const all = events(800, 6, 2);
      const clean = new MemoryDocumentStore();
      await clean.prepare(p.name, p.collections);
      await new ProjectionRunner(null as never, clean, p).apply(all);
      await store.prepare(p.name, p.collections);
      // The second member is another process where the store can be shared: what it remembers of
      // the documents goes stale as the first one writes them.
      const other = subject.peer ? await subject.peer() : store;
      const member = async (partition: string, s: DocumentStore) => {
        const runner = new ProjectionRunner(null as never, s, p);
        const mine = all.filter((e) => e.position.partition === partition);
        for (let i = 0; i < mine.length; i += 20) await runner.apply(mine.slice(i, i + 20));
      };
      try {
        await Promise.all([member('p0', store), member('p1', other)]);
      } finally {
        if (other !== store) await other.close();
      }
      assert.deepEqual(await digests(store, p), await digests(clean, p));
    });

    it('applies an update to a document it took as absent without reading it, which another process had written', async () => {
      const tag = `${process.pid}_${unique++}`;
      const c = `contract_marks_${tag}`;
      // A document is made by an event whose hash is 'new'; any other marks it, and is ignored while
      // there is no document to mark (as a contribution accepted before it is known).
      const p: Projection<Accepted> = {
        name: `contract.marks.${tag}`,
        codec,
        collections: [{ name: c, indexes: [] }],
        route: (e) => [{ collection: c, id: e.data.contributionId }],
        evolve: (_ref, doc, e) => (e.data.contentHash === 'new' ? { marks: 0 } : doc && { marks: (doc.marks as number) + 1 }),
      };
      const at = new Map<string, number>();
      const event = (id: string, hash: string, partition: string): StoredEvent => {
        const offset = at.get(partition) ?? 0;
        at.set(partition, offset + 1);
        const seq = (at.get(id) ?? 0) + 1;
        at.set(id, seq);
        const e = codec.encode({ type: 'ContributionAccepted', data: { datanetId: 'd', contributionId: id, contributor: '0xabc', contentHash: hash, sizeBytes: 1 } }, 1_700_000_000_000);
        return { ...e, streamId: `s-${id}`, streamSeq: seq, eventId: `${partition}/${offset}`, producer: 'contract', prevHash: new Uint8Array(32), hash: new Uint8Array(32), schemaVersion: 1, correlationId: '', causationId: '', position: { partition, offset } } as unknown as StoredEvent;
      };
      await store.prepare(p.name, p.collections);
      const other = subject.peer ? await subject.peer() : store;
      try {
        const mine = new ProjectionRunner(null as never, store, p);
        // Many new documents and none found: a store may take the next unseen ones as new unread.
        await mine.apply(Array.from({ length: 150 }, (_, i) => event(`n${i}`, 'new', 'p0')));
        // 'y' marked while nobody has it: nothing to mark; this process remembers it absent.
        await mine.apply([event('y', 'mark', 'p0')]);
        // Another process (another partition's member) makes both.
        await other.prepare(p.name, p.collections);
        await new ProjectionRunner(null as never, other, p).apply([event('x', 'new', 'p1'), event('y', 'new', 'p1')]);
        await mine.apply([event('x', 'mark', 'p0'), event('y', 'mark', 'p0')]);
        assert.deepEqual([await store.get(c, 'x'), await store.get(c, 'y')], [{ marks: 1 }, { marks: 1 }]);
      } finally {
        if (other !== store) await other.close();
      }
    });

    it("keeps each partition's furthest checkpoint offset, whichever process commits (stores shared by processes)", async (t) => {
      if (!subject.peer || !store.commitGuarded) return t.skip('a store of one process');
      const p = `contract.cursor.${process.pid}.${unique++}`;
      await store.prepare(p, []);
      const other = await subject.peer();
      try {
        await other.prepare(p, []);
        // Partition keys as Kafka's are (topic/partition), with the characters a field name cannot hold.
        await store.commitGuarded(p, [], { cursor: { 'opal.ingest/0': 10, 'opal.ingest/1': 4 }, streams: {}, applied: 1 });
        await other.commitGuarded!(p, [], { cursor: { 'opal.ingest/1': 9, '$x.y%2E/0': 3 }, streams: {}, applied: 2 });
        // A process that had partition 0 before a rebalance commits its older position late.
        await other.commitGuarded!(p, [], { cursor: { 'opal.ingest/0': 7 }, streams: {}, applied: 3 });
        assert.deepEqual((await store.loadCheckpoint(p))?.cursor, { 'opal.ingest/0': 10, 'opal.ingest/1': 9, '$x.y%2E/0': 3 });
        // A checkpoint that names no partition moves none.
        await store.commitGuarded(p, [], { cursor: {}, streams: {}, applied: 4 });
        assert.deepEqual(await store.loadCheckpoint(p), { cursor: { 'opal.ingest/0': 10, 'opal.ingest/1': 9, '$x.y%2E/0': 3 }, streams: {}, applied: 4, version: 1 });
        await store.reset(p, []);
        assert.equal(await other.loadCheckpoint(p), undefined);
      } finally {
        await other.close();
      }
    });

    it('never moves a partition\'s checkpoint offset back while processes commit theirs at once (stores shared by processes)', async (t) => {
      if (!subject.peer || !store.commitGuarded) return t.skip('a store of one process');
      const p = `contract.cursor-race.${process.pid}.${unique++}`;
      await store.prepare(p, []);
      const other = await subject.peer();
      try {
        await other.prepare(p, []);
        const wentBack: string[] = [];
        // Two writers in each process, each raising a partition of its own, one commit after another.
        const writer = async (s: DocumentStore, partition: string) => {
          for (let o = 1; o <= 120; o++) {
            await s.commitGuarded!(p, [], { cursor: { [partition]: o }, streams: {}, applied: o });
            const stored = (await s.loadCheckpoint(p))?.cursor[partition] ?? 0;
            if (stored < o) wentBack.push(`${partition}: ${o} stored, then read back as ${stored}`);
          }
        };
        await Promise.all([writer(store, 't/0'), writer(other, 't/1'), writer(store, 't/2'), writer(other, 't/3')]);
        assert.deepEqual(wentBack, []);
        assert.deepEqual((await other.loadCheckpoint(p))?.cursor, { 't/0': 120, 't/1': 120, 't/2': 120, 't/3': 120 });
      } finally {
        await store.reset(p, []);
        await other.close();
      }
    });
  });
}
