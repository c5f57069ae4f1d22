import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { TransientError, type EventLog, type SubscribeOptions } from '@opal/event-log';
import { MemoryDocumentStore, TypedEventCodec, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { ProjectionHost } from './projection-host.js';
import { ProcessMetrics } from './metrics.js';

type Accepted = DomainEvent<'ContributionAccepted', { contributor: string }>;
const projection: Projection<Accepted> = {
  name: 'test.failing',
  codec: new TypedEventCodec<Accepted>('opal.ingest.v1', ['ContributionAccepted']),
  collections: [{ name: 'test_failing', indexes: [] }],
  route: (e) => [{ collection: 'test_failing', id: e.data.contributor }],
  evolve: (_ref, _doc, e) => ({ contributor: e.data.contributor }),
};

describe('ProjectionHost', () => {
  it('settles `failed` with the projection when the log stops delivering to it for good', async () => {
    const given: SubscribeOptions[] = [];
    const log = { subscribe: (o: SubscribeOptions) => (given.push(o), { caughtUp: async () => {}, cursor: () => ({}), stop: async () => {} }) } as unknown as EventLog;
    const metrics = new ProcessMetrics();
    const host = new ProjectionHost(log, new MemoryDocumentStore(), pino({ level: 'silent' }), metrics);
    host.register('ingest', projection);
    await host.onApplicationBootstrap();
    let settled = false;
    void host.failed.then(() => (settled = true));
    given[0]!.onError!(new Error('one batch failed'), []);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'a failed batch is retried, not fatal');
    const error = new Error('consumer crashed');
    given[0]!.onFailed!(error);
    assert.deepEqual(await host.failed, { projection: 'test.failing', error });
    const text = await metrics.exposition();
    assert.match(text, /^opal_projection_batch_failures_total\{projection="test.failing"\} 1$/m);
    assert.match(text, /^opal_projection_up\{projection="test.failing"\} 0$/m);
  });

  it("answers a query's miss once the service's own read models have caught up, and no later than its bound", async () => {
    // Each projection's subscription reports being caught up only when the test says so.
    const release = new Map<string, () => void>();
    const asked: string[] = [];
    const log = {
      subscribe: (o: SubscribeOptions) => ({
        caughtUp: () => (asked.push(o.name ?? ''), new Promise<void>((resolve) => release.set(o.name ?? '', resolve))),
        cursor: () => ({}),
        stop: async () => {},
      }),
    } as unknown as EventLog;
    const host = new ProjectionHost(log, new MemoryDocumentStore(), pino({ level: 'silent' }), new ProcessMetrics());
    host.register('ingest', { ...projection, name: 'test.ingest' });
    host.register('attribution', { ...projection, name: 'test.attribution' });
    await host.onApplicationBootstrap();

    let stored: string | undefined;
    const reads: (string | undefined)[] = [];
    const read = async () => (reads.push(stored), stored);
    stored = 'there';
    assert.equal(await host.readCaughtUp('ingest', read), 'there');
    assert.deepEqual(asked, [], 'a hit waits for nothing');

    stored = undefined;
    const answer = host.readCaughtUp('ingest', read);
    await new Promise((r) => setImmediate(r));
    assert.equal(asked.length, 1, "a miss waits for ingest's read models only");
    assert.match(asked[0]!, /test\.ingest/);
    stored = 'applied meanwhile';
    release.get(asked[0]!)!();
    assert.equal(await answer, 'applied meanwhile');
    assert.deepEqual(reads, ['there', undefined, 'applied meanwhile']);

    // Without the bound this would never settle: attribution's read model is never released.
    assert.equal(await host.caughtUpWithin('attribution', 50), false, 'a read model that never catches up: the wait ends');
    // A miss it cannot confirm is no miss: UNAVAILABLE (try again), unless the second read finds it.
    await assert.rejects(host.readCaughtUp('attribution', async () => undefined, 50), (e: unknown) => e instanceof TransientError && /attribution's read models were not seen caught up with the log \(its servers do not answer, or not within 50 ms\)/.test(e.message));
    let late: string | undefined;
    const found = host.readCaughtUp('attribution', async () => late, 50);
    late = 'applied while it waited';
    assert.equal(await found, 'applied while it waited');
  });
  it('does not wait out a log whose servers do not answer: a miss is UNAVAILABLE at once, not after the bound', async () => {
    let up = false;
    let probes = 0;
    const log = {
      subscribe: () => ({ caughtUp: () => new Promise<void>(() => {}), cursor: () => ({}), stop: async () => {} }),
      reachable: async () => (probes++, up),
    } as unknown as EventLog;
    const host = new ProjectionHost(log, new MemoryDocumentStore(), pino({ level: 'silent' }), new ProcessMetrics());
    host.register('ingest', { ...projection, name: 'test.away' });
    await host.onApplicationBootstrap();
    // Bounds of an hour: only the log's answer can end these waits.
    assert.equal(await host.caughtUpWithin('ingest', 3_600_000), false);
    await assert.rejects(host.readCaughtUp('ingest', async () => undefined, 3_600_000), (e: unknown) => e instanceof TransientError);
    assert.equal(probes, 2);
    // Servers that answer: the wait is the read models' again, to its bound.
    up = true;
    assert.equal(await host.caughtUpWithin('ingest', 50), false);
  });
});
