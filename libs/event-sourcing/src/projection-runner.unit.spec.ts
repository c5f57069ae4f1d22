import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog, isTransient, TransientError, type EventLog, type StoredEvent } from '@opal/event-log';
import { TypedEventCodec } from './typed-event-codec.js';
import { MemoryDocumentStore } from './memory-document-store.js';
import { CONFLICT_TRIES, ProjectionRunner } from './projection-runner.js';
import { ProjectionEventError } from './projection-failure.js';
import type { Projection } from './projection.js';
import type { DomainEvent } from './domain-event.js';
import { DocumentConflictError, type DocumentStore, type GuardedDoc } from './document-store.port.js';

type Accepted = DomainEvent<'ContributionAccepted', { datanetId: string; contributionId: string; contributor: string; contentHash: string; sizeBytes: number }>;

// A real integration event of proto/, so the codec path is the production one.
const ingestCodecForTests = new TypedEventCodec<Accepted>('opal.ingest.v1', ['ContributionAccepted']);

const counting: Projection<Accepted> = {
  name: 'test.counts',
  codec: ingestCodecForTests,
  collections: [{ name: 'test_counts', indexes: [] }],
  route: (e) => [{ collection: 'test_counts', id: e.data.contributor }],
  evolve: (_ref, doc, e) => ({ contributor: e.data.contributor, accepted: ((doc?.['accepted'] as number) ?? 0) + 1, bytes: ((doc?.['bytes'] as number) ?? 0) + e.data.sizeBytes }),
};

let offset = 0;
function stored(stream: string, seq: number, contributor: string, size: number): StoredEvent {
  const e = ingestCodecForTests.encode({ type: 'ContributionAccepted', data: { datanetId: 'n', contributionId: `${stream}-${seq}`, contributor, contentHash: '0x', sizeBytes: size } }, 1);
  return { ...e, eventId: `${stream}-${seq}`, schemaVersion: 1, streamId: stream, streamSeq: seq, correlationId: '', causationId: '', producer: 't', prevHash: new Uint8Array(), hash: new Uint8Array(), position: { partition: 'log', offset: offset++ } };
}

const noLog = {} as EventLog;

describe('ProjectionRunner', () => {
  it('passes on a subscription that stopped for good, so its owner can stop the process', async () => {
    let given: Parameters<EventLog['subscribe']>[0] | undefined;
    const log = { subscribe: (o: Parameters<EventLog['subscribe']>[0]) => ((given = o), { caughtUp: async () => {}, cursor: () => ({}), stop: async () => {} }) } as unknown as EventLog;
    const failures: unknown[] = [];
    const runner = new ProjectionRunner(log, new MemoryDocumentStore(), counting, { onFailed: (e) => failures.push(e) });
    await runner.start();
    const error = new Error('group coordinator gone');
    given!.onFailed!(error);
    assert.deepEqual(failures, [error]);
  });

  it("follows only the streams that hold its events (an ingest projection: Datanets')", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-runner-streams-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    try {
      const accepted = (contributor: string) =>
        ingestCodecForTests.encode({ type: 'ContributionAccepted', data: { datanetId: 'n', contributionId: contributor, contributor, contentHash: '0x', sizeBytes: 1 } }, 1);
      // The same events on a Datanet's stream and on another service's: only the first are ingest's.
      await log.append('datanet-n', [accepted('x'), accepted('y')], { expectedVersion: 'no_stream', producer: 't' });
      await log.append('tenant-z', [accepted('x'), accepted('z')], { expectedVersion: 'no_stream', producer: 't' });
      const store = new MemoryDocumentStore();
      const runner = new ProjectionRunner(log, store, counting);
      await runner.start();
      await runner.caughtUp();
      await runner.stop();
      assert.equal(runner.appliedEvents, 2);
      assert.deepEqual(await store.get('test_counts', 'x'), { contributor: 'x', accepted: 1, bytes: 1 });
      assert.equal(await store.get('test_counts', 'z'), undefined);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds a read model again from offset zero when its snapshot was written by another version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-runner-version-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    const accepted = (contributor: string, sizeBytes: number) =>
      ingestCodecForTests.encode({ type: 'ContributionAccepted', data: { datanetId: 'n', contributionId: `${contributor}${sizeBytes}`, contributor, contentHash: '0x', sizeBytes } }, 1);
    // Version 2 keeps its counts in a collection of another name, and the largest size as well.
    const v2: Projection<Accepted> = {
      ...counting,
      version: 2,
      collections: [{ name: 'test_counts_by_contributor', indexes: [] }],
      route: (e) => [{ collection: 'test_counts_by_contributor', id: e.data.contributor }],
      evolve: (ref, doc, e) => ({ ...counting.evolve(ref, doc, e), largest: Math.max((doc?.['largest'] as number) ?? 0, e.data.sizeBytes) }),
    };
    const run = async (projection: Projection<Accepted>) => {
      const store = new MemoryDocumentStore({ dir: join(dir, 'snapshots') });
      const rebuilt: { stored: number; current: number }[] = [];
      let appliedNow = 0;
      const runner = new ProjectionRunner(log, store, projection, { onRebuild: (v) => rebuilt.push(v), onCommitted: (b) => (appliedNow += b.events) });
      await runner.start();
      await runner.caughtUp();
      await runner.stop();
      await store.close(); // writes the snapshot
      return { store, rebuilt, appliedNow, applied: runner.appliedEvents };
    };
    try {
      await log.append('datanet-n', [accepted('x', 5), accepted('y', 7), accepted('x', 9)], { expectedVersion: 'no_stream', producer: 't' });
      const first = await run(counting);
      assert.deepEqual(await first.store.get('test_counts', 'x'), { contributor: 'x', accepted: 2, bytes: 14 });
      await log.append('datanet-n', [accepted('x', 11)], { expectedVersion: 3, producer: 't' });
      const upgraded = await run(v2);
      assert.deepEqual(upgraded.rebuilt, [{ stored: 1, current: 2 }]);
      assert.deepEqual([upgraded.appliedNow, upgraded.applied], [4, 4], 'every event applied again');
      assert.deepEqual(await upgraded.store.get('test_counts_by_contributor', 'x'), { contributor: 'x', accepted: 3, bytes: 25, largest: 11 });
      const restarted = await run(v2);
      assert.deepEqual(restarted.rebuilt, []);
      assert.deepEqual([restarted.appliedNow, restarted.applied], [0, 4], 'version 2 resumes from its own snapshot');
      assert.deepEqual(await restarted.store.get('test_counts_by_contributor', 'y'), { contributor: 'y', accepted: 1, bytes: 7, largest: 7 });
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies a redelivered batch once (per-stream sequence guard)', async () => {
    const store = new MemoryDocumentStore();
    const runner = new ProjectionRunner(noLog, store, counting);
    await store.prepare(counting.name, counting.collections);
    const batch = [stored('a', 1, 'x', 10), stored('b', 1, 'x', 5), stored('a', 2, 'y', 1)];
    await runner.apply(batch);
    await runner.apply(batch);
    await runner.apply([batch[2]!, stored('a', 3, 'x', 100)]);
    assert.deepEqual(await store.get('test_counts', 'x'), { contributor: 'x', accepted: 3, bytes: 115 });
    assert.deepEqual(await store.get('test_counts', 'y'), { contributor: 'y', accepted: 1, bytes: 1 });
    assert.equal(runner.appliedEvents, 4);
  });

  it('leaves no trace of a batch whose commit failed, so the retry applies it fully', async () => {
    const store = new MemoryDocumentStore();
    await store.prepare(counting.name, counting.collections);
    const runner = new ProjectionRunner(noLog, store, counting);
    const commit = store.commit.bind(store);
    let fail = true;
    store.commit = async (...args) => {
      if (fail) throw new Error('disk full');
      return commit(...args);
    };
    const batch = [stored('c', 1, 'z', 7), stored('c', 2, 'z', 8)];
    await assert.rejects(runner.apply(batch), /disk full/);
    fail = false;
    await runner.apply(batch);
    assert.deepEqual(await store.get('test_counts', 'z'), { contributor: 'z', accepted: 2, bytes: 15 });
    assert.equal(runner.appliedEvents, 2);
  });

  it('names the projection and the event its code fails on, in memory and on a guarded store, keeping the cause', async () => {
    const failing: Projection<Accepted> = {
      ...counting,
      evolve: (ref, doc, e) => {
        if (e.data.sizeBytes === 13) throw new RangeError('size 13 is not allowed');
        return counting.evolve(ref, doc, e);
      },
    };
    // Events in log order: f#1, then f#2, which the projection fails on.
    const batch = () => [stored('f', 1, 'x', 1), stored('f', 2, 'x', 13)] as const;
    const named = (bad: StoredEvent) => (e: unknown) =>
      e instanceof ProjectionEventError &&
      e.message === `projection test.counts: on opal.ingest.v1.ContributionAccepted f#2 (log@${bad.position.offset}): size 13 is not allowed` &&
      e.cause instanceof RangeError;
    const memory = new MemoryDocumentStore();
    await memory.prepare(failing.name, failing.collections);
    const inMemory = batch();
    await assert.rejects(new ProjectionRunner(noLog, memory, failing).apply(inMemory), named(inMemory[1]));
    const guarded = {
      prepare: async () => {},
      loadCheckpoint: async () => undefined,
      getGuarded: async () => new Map<string, GuardedDoc>(),
      commitGuarded: async () => {},
    } as unknown as DocumentStore;
    const onGuarded = batch();
    await assert.rejects(new ProjectionRunner(noLog, guarded, failing).apply(onGuarded), named(onGuarded[1]));
  });

  it('hands a batch whose writes keep conflicting with other writers back to the log as transient, never as poison', async () => {
    let tries = 0;
    const contended = {
      prepare: async () => {},
      loadCheckpoint: async () => undefined,
      getGuarded: async () => new Map<string, GuardedDoc>(),
      commitGuarded: async () => {
        tries++;
        throw new DocumentConflictError('1 document(s) changed by another writer');
      },
    } as unknown as DocumentStore;
    const runner = new ProjectionRunner(noLog, contended, counting);
    const error = await runner.apply([stored('c', 1, 'x', 1)]).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof TransientError, String(error));
    assert.ok(isTransient(error), 'the log waits it out rather than dead-letter the events');
    assert.ok((error as Error).cause instanceof DocumentConflictError);
    assert.equal(tries, CONFLICT_TRIES);
  });

  it('writes nothing to a guarded store for a batch without its events; an in-process one moves its cursor', async () => {
    // Another service's event, on a topic the projection follows (settlement and governance follow every one).
    const foreign = { ...stored('tenant-t', 1, 'x', 1), type: 'opal.inference.v1.InferenceCompleted' };
    const writes: string[] = [];
    const guarded = {
      prepare: async () => {},
      loadCheckpoint: async () => undefined,
      getGuarded: async () => new Map<string, GuardedDoc>(),
      commitGuarded: async (_p: string, w: readonly unknown[]) => void writes.push(`guarded ${w.length}`),
      commit: async () => void writes.push('commit'),
    } as unknown as DocumentStore;
    const runner = new ProjectionRunner(noLog, guarded, counting);
    await runner.apply([foreign]);
    assert.deepEqual(writes, []);
    await runner.apply([foreign, stored('d', 1, 'x', 3)]);
    assert.deepEqual(writes, ['guarded 1']);
    assert.equal(runner.appliedEvents, 1);

    const memory = new MemoryDocumentStore();
    await memory.prepare(counting.name, counting.collections);
    const local = new ProjectionRunner(noLog, memory, counting);
    await local.apply([foreign]);
    assert.deepEqual((await memory.loadCheckpoint(counting.name))?.cursor, { log: foreign.position.offset + 1 });
  });

  it('on a guarded store, resumes from the cursor stored with the state, which moves past records without its events too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-runner-progress-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    // A guarded store keeping only what the runner needs here: the checkpoint, each partition's
    // offset moving only forward (as MongoDocumentStore's $max does).
    let checkpoint: { cursor: Record<string, number>; applied: number } | undefined;
    const applied: number[] = [];
    const guarded = {
      prepare: async () => {},
      loadCheckpoint: async () => checkpoint && { ...checkpoint, streams: {} },
      getGuarded: async () => new Map<string, GuardedDoc>(),
      commitGuarded: async (_p: string, w: readonly { doc: unknown }[], cp: { cursor: Record<string, number>; applied: number }) => {
        applied.push(w.length);
        const cursor = { ...(checkpoint?.cursor ?? {}) };
        for (const [k, o] of Object.entries(cp.cursor)) cursor[k] = Math.max(cursor[k] ?? 0, o);
        checkpoint = { cursor, applied: cp.applied };
      },
    } as unknown as DocumentStore;
    try {
      const accepted = ingestCodecForTests.encode({ type: 'ContributionAccepted', data: { datanetId: 'n', contributionId: 'c', contributor: 'x', contentHash: '0x', sizeBytes: 3 } }, 1);
      await log.append('datanet-n', [accepted], { expectedVersion: 'no_stream', producer: 't' });
      // Then 300 records of streams the projection does not follow: its handler never sees them.
      for (let i = 0; i < 300; i++) await log.append(`tenant-${i}`, [{ type: 'opal.inference.v1.HoldPlaced', payload: new Uint8Array(1), occurredAt: 1 }], { expectedVersion: 'no_stream', producer: 't' });
      const first = new ProjectionRunner(log, guarded, counting);
      await first.start();
      await first.caughtUp();
      assert.deepEqual(applied, [1], 'its one event applied, its checkpoint stored with it');
      for (let waited = 0; (checkpoint?.cursor['log'] ?? 0) < 301 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(checkpoint?.cursor, { log: 301 }, 'the cursor moved past the records without its events');
      await first.stop();
      // A restart starts there: the event is not applied again (no write at all).
      const second = new ProjectionRunner(log, guarded, counting);
      await second.start();
      await second.caughtUp();
      await second.stop();
      assert.deepEqual(applied.slice(0, 1), [1]);
      assert.ok(applied.slice(1).every((n) => n === 0), `only cursor writes after the restart: ${applied.join(',')}`);
      // A state without a checkpoint (a new database) starts from offset zero, whatever the log stored.
      checkpoint = undefined;
      applied.length = 0;
      const fresh = new ProjectionRunner(log, guarded, counting);
      await fresh.start();
      await fresh.caughtUp();
      await fresh.stop();
      assert.deepEqual(applied.filter((n) => n > 0), [1], 'the event applied again into the new state');
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ProjectionRunner on a stored read model', () => {
  /** A store holding a read model stored at `cursor`, and a log of partitions whose ends are `ends`. */
  async function resume(cursor: Record<string, number>, ends: Record<string, number> | (() => Promise<never>)) {
    const store = new MemoryDocumentStore();
    await store.prepare(counting.name, counting.collections);
    await store.commit(counting.name, [{ collection: 'test_counts', id: 'c', doc: { contributor: 'c', accepted: 3, bytes: 3 } }], { cursor, streams: {}, applied: 3 });
    let subscribed = false;
    const log = {
      endsOf: typeof ends === 'function' ? ends : async () => ends,
      subscribe: () => ((subscribed = true), { caughtUp: async () => {}, cursor: () => ({}), stop: async () => {} }),
    } as unknown as EventLog;
    const runner = new ProjectionRunner(log, store, counting);
    return { start: () => runner.start(), subscribed: () => subscribed };
  }

  it('resumes one stored for this log', async () => {
    const r = await resume({ 'a.ingest/0': 5, 'a.ingest/1': 2 }, { 'a.ingest/0': 9, 'a.ingest/1': 2, 'a.ingest/2': 0 });
    await r.start();
    assert.ok(r.subscribed());
  });

  it('refuses one stored for partitions this log does not have (another topic prefix or layout), naming the read model and OPAL_STORE', async () => {
    const r = await resume({ 'a.ingest/0': 5 }, { 'b.ingest/0': 9 });
    await assert.rejects(r.start(), (e: Error) => /^read model test\.counts: stored for the partitions a\.ingest\/0, which this log does not have \(it holds b\.ingest\/0\): a read model of another log; point OPAL_STORE/.test(e.message));
    assert.equal(r.subscribed(), false, 'nothing applied twice');
  });

  it("refuses one stored past a partition's end (another cluster, topics made again)", async () => {
    const r = await resume({ 'a.ingest/0': 50 }, { 'a.ingest/0': 9 });
    await assert.rejects(r.start(), (e: Error) => /stored at a\.ingest\/0@50, past that partition's end \(9\)/.test(e.message));
  });

  it('goes on when the log cannot tell its ends now (its subscription waits the outage out)', async () => {
    const r = await resume({ 'a.ingest/0': 5 }, async () => Promise.reject(new Error('broker away')));
    await r.start();
    assert.ok(r.subscribed());
  });
});
