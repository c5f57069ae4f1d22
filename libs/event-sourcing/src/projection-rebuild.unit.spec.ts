import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EnvelopeView, type EventLog, type StoredEvent } from '@opal/event-log';
import { TypedEventCodec } from './typed-event-codec.js';
import { MemoryDocumentStore } from './memory-document-store.js';
import { ProjectionRebuild } from './projection-rebuild.js';
import { ProjectionRunner } from './projection-runner.js';
import { ProjectionEventError } from './projection-failure.js';
import type { Projection } from './projection.js';
import type { DomainEvent } from './domain-event.js';

type Accepted = DomainEvent<'ContributionAccepted', { datanetId: string; contributionId: string; contributor: string; contentHash: string; sizeBytes: number }>;

const codec = new TypedEventCodec<Accepted>('opal.ingest.v1', ['ContributionAccepted']);

const byContributor: Projection<Accepted> = {
  name: 'test.contributors',
  codec,
  collections: [{ name: 'test_contributors', indexes: ['datanetId'] }],
  route: (e) => [{ collection: 'test_contributors', id: e.data.contributor }],
  evolve: (_ref, doc, e) => ({
    contributor: e.data.contributor,
    datanetId: e.data.datanetId,
    accepted: ((doc?.['accepted'] as number) ?? 0) + 1,
    bytes: ((doc?.['bytes'] as number) ?? 0) + e.data.sizeBytes,
    lastAt: e.meta.occurredAt,
    lastEvent: e.meta.eventId,
  }),
};

// Deletes a contribution's document when its size is 0: the rebuild must apply deletions too.
const bySize: Projection<Accepted> = {
  name: 'test.sizes',
  codec,
  collections: [{ name: 'test_sizes', indexes: [] }],
  route: (e) => [{ collection: 'test_sizes', id: e.data.contributionId.slice(0, 3) }],
  evolve: (_ref, doc, e) => (e.data.sizeBytes === 0 ? null : { total: ((doc?.['total'] as number) ?? 0) + e.data.sizeBytes, seq: e.meta.streamSeq }),
};

type Fact = { stream: string; seq: number; contributor: string; size: number; type?: string };

function stored(f: Fact, offset: number): StoredEvent {
  const e = codec.encode({ type: 'ContributionAccepted', data: { datanetId: `d-${f.stream}`, contributionId: `${f.stream}-${f.seq}`, contributor: f.contributor, contentHash: '0x', sizeBytes: f.size } }, 1000 + offset);
  return { ...e, type: f.type ?? e.type, eventId: `id-${offset}`, schemaVersion: 1, streamId: f.stream, streamSeq: f.seq, correlationId: '', causationId: '', producer: 't', prevHash: new Uint8Array(), hash: new Uint8Array(), position: { partition: 'log', offset } };
}

/** The record as the embedded log hands it to a rebuild: a view over bytes (here the payload's own). */
function view(s: StoredEvent): EnvelopeView {
  const v = new EnvelopeView();
  const eventId = Buffer.from(s.eventId);
  v.buf = Buffer.concat([eventId, s.payload]);
  v.type = s.type;
  v.streamId = s.streamId;
  v.streamSeq = s.streamSeq;
  v.occurredAt = s.occurredAt;
  v.eventIdStart = 0;
  v.eventIdEnd = eventId.length;
  v.payloadStart = eventId.length;
  v.payloadEnd = v.buf.length;
  return v;
}

const facts: Fact[] = [
  { stream: 'a', seq: 1, contributor: 'x', size: 10 },
  { stream: 'b', seq: 1, contributor: 'x', size: 5 },
  { stream: 'a', seq: 2, contributor: 'y', size: 1 },
  { stream: 'a', seq: 2, contributor: 'y', size: 1 }, // redelivered: skipped
  { stream: 'a', seq: 1, contributor: 'x', size: 10 }, // older: skipped
  { stream: 'b', seq: 2, contributor: 'y', size: 0 }, // deletes b-2's size document
  { stream: 'c', seq: 1, contributor: 'z', size: 7, type: 'opal.inference.v1.InferenceCompleted' }, // another service's event
  { stream: 'a', seq: 3, contributor: 'x', size: 100 },
];

describe('ProjectionRebuild', () => {
  it('leaves the same documents, counts and checkpoints as a ProjectionRunner', async () => {
    const events = facts.map((f, i) => stored(f, i));

    const viaRunner = new MemoryDocumentStore();
    const runners = [byContributor, bySize].map((p) => new ProjectionRunner({} as EventLog, viaRunner, p));
    for (const r of runners) await viaRunner.prepare(r.projection.name, r.projection.collections);
    for (const r of runners) await r.apply(events.slice(0, 4));
    for (const r of runners) await r.apply(events.slice(4));

    const viaRebuild = new MemoryDocumentStore();
    const rebuild = new ProjectionRebuild(viaRebuild, [byContributor, bySize]);
    await rebuild.prepare();
    for (const e of events) rebuild.apply(view(e));
    await rebuild.finish({ log: events.length });

    for (const r of runners) {
      assert.equal(rebuild.appliedEvents(r.projection.name), r.appliedEvents);
      const runnerCheckpoint = await viaRunner.loadCheckpoint(r.projection.name);
      assert.deepEqual(await viaRebuild.loadCheckpoint(r.projection.name), runnerCheckpoint);
      for (const c of r.projection.collections) assert.deepEqual(await viaRebuild.digest(c.name), await viaRunner.digest(c.name));
    }
    assert.equal(rebuild.appliedEvents('test.contributors'), 5);
    assert.deepEqual(await viaRebuild.get('test_contributors', 'x'), { contributor: 'x', datanetId: 'd-a', accepted: 3, bytes: 115, lastAt: 1007, lastEvent: 'id-7' });
    assert.equal(await viaRebuild.get('test_sizes', 'b-2'), undefined);
    // y moved from d-a to d-b: the index follows.
    assert.deepEqual((await viaRebuild.find('test_contributors', { where: { datanetId: 'd-b' } })).items, [{ contributor: 'y', datanetId: 'd-b', accepted: 2, bytes: 1, lastAt: 1005, lastEvent: 'id-5' }]);
    assert.deepEqual((await viaRebuild.find('test_contributors', { where: { datanetId: 'd-a' } })).items.map((d) => d['contributor']), ['x']);
  });

  it('names the projection and the event its code fails on', async () => {
    const failing: Projection<Accepted> = { ...bySize, evolve: (ref, doc, e) => (e.data.sizeBytes === 13 ? JSON.parse('{') : bySize.evolve(ref, doc, e)) };
    const store = new MemoryDocumentStore();
    const rebuild = new ProjectionRebuild(store, [failing]);
    await rebuild.prepare();
    rebuild.apply(view(stored({ stream: 's', seq: 1, contributor: 'a', size: 5 }, 0)));
    assert.throws(
      () => rebuild.apply(view(stored({ stream: 's', seq: 2, contributor: 'a', size: 13 }, 1))),
      (e: unknown) => e instanceof ProjectionEventError && e.message.startsWith('projection test.sizes: on opal.ingest.v1.ContributionAccepted s#2: ') && e.cause instanceof SyntaxError,
    );
  });
});
