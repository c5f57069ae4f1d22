import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventCatalog } from '@opal/contracts';
import { EmbeddedEventLog, isTransient, type EventLog, type NewEvent, type SubscribeOptions } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { createLogger, ProcessMetrics, ProjectionHost } from '@opal/service-runtime';
import { versionsProjection } from '../projections/versions.projection.js';
import { StoredContributionContent } from '../adapters/files/stored-contribution-content.js';
import { PackContentStore } from '@opal/content-store';
import { IndexDirectoryStore } from '../adapters/files/index-directory.store.js';
import { indexStream, receiptStream } from '../domain/attribution.events.js';
import { weightSum } from '../domain/receipt.decider.js';
import { attributionCodec } from './attribution.codecs.js';
import { IndexBuilderReactor } from './index-builder.reactor.js';
import { IndexCatalog } from './index-catalog.js';
import { LocalIndexes } from './local-indexes.js';
import { ReceiptWriterReactor } from './receipt-writer.reactor.js';
import { verifyReceipt } from './verify-receipt.js';

const event = (type: string, message: object): NewEvent => ({ type, payload: eventCatalog.get(type)!.encode(message), occurredAt: 1 });
const words = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `t${(seed * 7919 + i * 104729) % 9973}`).join(' ');
const until = async (what: string, check: () => Promise<boolean>) => {
  for (let i = 0; i < 500; i++) if (await check()) return;
  else await new Promise((r) => setTimeout(r, 20));
  throw new Error(`timed out waiting for ${what}`);
};

function inference(inferenceId: string, outputText: string, datanetVersions: string[], retrieved: string[] = []): NewEvent {
  return event('opal.inference.v1.InferenceCompleted', {
    inferenceId, tenant: 't', adapterId: 'ad', baseModelId: 'b', datanetVersions, outputText, retrievedContributions: retrieved, usage: undefined, fee: undefined, adapterOwner: '0x0',
  });
}

describe('attribution reactors on the embedded log', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  let content: PackContentStore;
  // The versions read model every replica of the service shares (MongoDB when scaled out).
  const store = new MemoryDocumentStore();
  let versions: ProjectionRunner<DomainEvent>;
  const logger = createLogger('silent', 'attribution-test');
  const texts = [words(1, 60), words(2, 60), words(3, 60)];
  const start = () => {
    const files = new IndexDirectoryStore(join(dir, 'indexes'));
    const clock = { now: () => 1000 };
    const builder = new IndexBuilderReactor(log, files, new StoredContributionContent(content), clock, logger);
    const writer = new ReceiptWriterReactor(log, builder, new IndexCatalog(log, new LocalIndexes(files, store, new StoredContributionContent(content), log)), clock, logger);
    builder.onApplicationBootstrap();
    writer.onApplicationBootstrap();
    return { builder, writer, files, stop: async () => (await writer.onApplicationShutdown(), await builder.onApplicationShutdown()) };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-attr-int-'));
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    content = await PackContentStore.open(join(dir, 'content'), false);
    const entries = await Promise.all(
      texts.map(async (t, i) => {
        const h = createHash('sha256').update(t).digest('hex');
        await content.put(h, Buffer.from(t));
        return { contributionId: `c${i}`, contentHash: '0x' + h, contributor: `0x${i}${i}` };
      }),
    );
    // Version 2 carries version 1's two entries and lists the third: its index holds all three.
    const published = (version: number, carried: number, n: number) =>
      event('opal.ingest.v1.DatanetVersionPublished', { datanetId: 'net', version, carried, entries: entries.slice(carried, n), merkleRoot: '0x', totalBytes: 100n });
    await log.append('datanet-net', [published(1, 0, 2), published(2, 2, 3)], { expectedVersion: 'any', producer: 'ingest' });
    versions = new ProjectionRunner(log, store, versionsProjection as unknown as Projection<DomainEvent>);
    await versions.start();
    await versions.caughtUp();
  });
  after(async () => {
    await versions.stop();
    await log.close();
    await content.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds each version once, attributes each inference once, and a redelivery or a restart without checkpoints appends nothing', async () => {
    let r = start();
    await log.append('inference-i1', [inference('i1', `so ${texts[0]!.split(' ').slice(3, 20).join(' ')} and ${texts[2]!.split(' ').slice(0, 9).join(' ')}`, ['net@1', 'net@2'])], { expectedVersion: 'any', producer: 'inference' });
    await until('receipt i1', async () => (await log.readStream(receiptStream('i1'))).length === 1);
    const [stored] = await log.readStream(receiptStream('i1'));
    const receipt = attributionCodec.decode(stored!)!;
    assert.equal(receipt.type, 'AttributionComputed');
    if (receipt.type !== 'AttributionComputed') return;
    assert.deepEqual(receipt.data.datanetVersions, ['net@2'], 'the latest version only');
    assert.equal(weightSum(receipt.data), 1_000_000);
    assert.deepEqual(receipt.data.weights.map((w) => w.contributor), ['0x00', '0x22']);

    // Redelivery of every event so far, then a restart that lost its checkpoints.
    const all = (await log.read(undefined, 1000)).events;
    await r.builder.handle(all);
    await r.writer.handle(all);
    await r.stop();
    rmSync(join(dir, 'log', 'checkpoints'), { recursive: true, force: true });
    mkdirSync(join(dir, 'log', 'checkpoints'));
    r = start();
    await log.append('inference-i2', [inference('i2', texts[1]!, ['net@1'], ['c0'])], { expectedVersion: 'any', producer: 'inference' });
    await until('receipt i2', async () => (await log.readStream(receiptStream('i2'))).length === 1);
    for (const s of [indexStream('net', 1), indexStream('net', 2), receiptStream('i1'), receiptStream('i2')]) assert.equal(await log.streamVersion(s), 1, s);

    const v = await verifyReceipt(log, r.files, 'i2');
    assert.equal(v.status, 'match');
    await r.stop();
  });

  it('verify reports a forged receipt (one the writer found already there) as a mismatch naming the fields', async () => {
    const r = start();
    const forged = { inferenceId: 'i3', indexHashes: [], methodVersion: 'opal-spans/1', spans: [], weights: [{ contributor: '0xeve', weightPpm: 1_000_000 }], outputHash: '', datanetVersions: [], retrievedContributions: [], params: undefined, outputTokens: 0, combinedIndexHash: '' };
    await log.append(receiptStream('i3'), [attributionCodec.encode({ type: 'AttributionComputed', data: forged }, 1)], { expectedVersion: 'no_stream', producer: 'mallory' });
    await log.append('inference-i3', [inference('i3', texts[2]!, ['net@2'])], { expectedVersion: 'any', producer: 'inference' });
    await until('writer past i3', async () => ((r.writer as any).subscription.cursor().log ?? 0) >= log.length);
    assert.equal(await log.streamVersion(receiptStream('i3')), 1, 'the writer appended nothing');
    const v = await verifyReceipt(log, r.files, 'i3');
    assert.equal(v.status, 'mismatch');
    if (v.status === 'mismatch') assert.ok(v.differences.includes('weights') && v.differences.includes('indexHashes'), v.differences.join());
    assert.equal((await verifyReceipt(log, r.files, 'nope')).status, 'not-found');
    await r.stop();
  });

  it('a replica that did not build an index builds its own copy from the manifest, with the hash in the log', async () => {
    // Replica A (the first test) built both versions; replica B has a folder of its own, empty.
    const filesB = new IndexDirectoryStore(join(dir, 'indexes-b'));
    const catalogB = new IndexCatalog(log, new LocalIndexes(filesB, store, new StoredContributionContent(content), log));
    const refs = [{ datanetId: 'net', version: 1 }, { datanetId: 'net', version: 2 }];
    assert.ok(refs.every((r) => !filesB.has(r)));
    const opened = await catalogB.openBuilt(refs);
    const logged = await Promise.all(refs.map(async (r) => catalogB.state(r)));
    assert.deepEqual(opened.map((o) => o.indexHash), logged.map((s) => (s.built ? s.indexHash : 'not built')));
    assert.ok(refs.every((r) => filesB.has(r)));
    assert.equal((await verifyReceipt(log, filesB, 'i1')).status, 'match', 'the copy computes the receipt replica A wrote');
    // An auditor's machine builds net@2 from the log alone: version 1's entries, then version 2's.
    const auditor = new IndexDirectoryStore(join(dir, 'indexes-auditor'));
    assert.equal((await verifyReceipt(log, auditor, 'i1', new StoredContributionContent(content))).status, 'match');
    assert.ok(auditor.has({ datanetId: 'net', version: 2 }) && !auditor.has({ datanetId: 'net', version: 1 }));

    // The read model without the version (not applied yet, being rebuilt, or set aside by it
    // alone): the copy is built from the Datanet's stream in the log, with the same hash.
    const bare = new MemoryDocumentStore();
    await bare.prepare(versionsProjection.name, versionsProjection.collections);
    const filesC = new IndexDirectoryStore(join(dir, 'indexes-c'));
    const catalogC = new IndexCatalog(log, new LocalIndexes(filesC, bare, new StoredContributionContent(content), log));
    assert.deepEqual((await catalogC.openBuilt(refs)).map((o) => o.indexHash), logged.map((s) => (s.built ? s.indexHash : 'not built')));
    assert.ok(refs.every((r) => filesC.has(r)));
    assert.equal((await verifyReceipt(log, filesC, 'i1')).status, 'match');
    // An index announced for a version this process cannot find anywhere yet: tried again later,
    // never poison.
    await log.append(indexStream('ghost', 1), [event('opal.attribution.v1.AttributionIndexBuilt', { datanetId: 'ghost', version: 1, indexHash: '0xab', tokens: 1n, shards: 1, tokenizer: 'w', documents: 1 })], { expectedVersion: 'no_stream', producer: 'attribution' });
    await assert.rejects(catalogC.openBuilt([{ datanetId: 'ghost', version: 1 }]), (e: Error) => isTransient(e) && /ghost@1 are not on this machine, and its manifest is neither in the versions read model nor in its Datanet's stream yet/.test(e.message));
  });

  it('on a log of partitions, a receipt waits until the builder has passed the ends of the partitions holding versions, not only the inference; not when its versions are indexed already', async () => {
    // Kafka-like: the inference in one partition, the version in another. The builder's own
    // subscription has passed the inference's partition but not yet the version's (a later chunk,
    // or the replica holding it is busy or was killed).
    const [published] = await log.append('datanet-late', [event('opal.ingest.v1.DatanetVersionPublished', { datanetId: 'late', version: 1, carried: 0, entries: [{ contributionId: 'c0', contentHash: '0x' + createHash('sha256').update(texts[0]!).digest('hex'), contributor: '0x00' }], merkleRoot: '0x', totalBytes: 60n })], { expectedVersion: 'no_stream', producer: 'ingest' });
    const endsAsked: (readonly string[] | undefined)[] = [];
    const partitioned = {
      readStream: log.readStream.bind(log),
      read: log.read.bind(log),
      append: log.append.bind(log),
      streamVersion: log.streamVersion.bind(log),
      endsOf: async (streams?: readonly string[]) => (endsAsked.push(streams), { 'p.ingest/0': 7, 'p.ingest/1': 3 }),
    } as unknown as EventLog;
    const files = new IndexDirectoryStore(join(dir, 'indexes-partitioned'));
    const contentPort = new StoredContributionContent(content);
    const builder = new IndexBuilderReactor(partitioned, files, contentPort, { now: () => 1000 }, logger);
    const builderAt: Record<string, number> = { 'p.inference/1': 42, 'p.ingest/0': 0, 'p.ingest/1': 3 };
    (builder as any).subscription = { cursor: () => builderAt, sharedCursor: async () => builderAt };
    const writer = new ReceiptWriterReactor(partitioned, builder, new IndexCatalog(partitioned, new LocalIndexes(files, store, contentPort, partitioned)), { now: () => 1000 }, logger);
    const [completed] = await log.append('inference-i9', [inference('i9', texts[0]!, ['late@1'])], { expectedVersion: 'no_stream', producer: 'inference' });
    let written = false;
    const handled = writer.handle([{ ...completed!, position: { partition: 'p.inference/1', offset: 41 } }]).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(written, false, 'no receipt while the version partition is behind');
    assert.equal(await log.streamVersion(receiptStream('i9')), 0);
    assert.deepEqual(endsAsked, [['datanet']], 'the ends of the partitions holding Datanet versions, once for the batch');
    // A wait is bounded, and the builder's progress unreadable (the log away) is an outage: both go
    // back to the log as TransientErrors, so a subscription being stopped is never held up.
    await assert.rejects(builder.handledUpTo({ 'p.ingest/0': 7 }, 100), (e: Error) => isTransient(e) && /not past the ends \{"p.ingest\/0":7\} after 0.1 s/.test(e.message));
    const away = new IndexBuilderReactor(partitioned, files, contentPort, { now: () => 1000 }, logger);
    (away as any).subscription = { cursor: () => ({}), sharedCursor: async () => Promise.reject(new Error('broker away')) };
    await assert.rejects(away.handledUpTo({ 'p.ingest/0': 7 }), (e: Error) => isTransient(e) && /its progress could not be read \(broker away\)/.test(e.message));
    // The builder reaches the version and builds it, and passes that partition's end.
    await builder.handle([published!]);
    builderAt['p.ingest/0'] = 7;
    await handled;
    const [stored] = await log.readStream(receiptStream('i9'));
    const receipt = attributionCodec.decode(stored!)!;
    assert.ok(receipt.type === 'AttributionComputed');
    assert.deepEqual(receipt.data.datanetVersions, ['late@1'], 'the version published before the inference is credited');
    assert.equal((await verifyReceipt(log, files, 'i9')).status, 'match');

    // The builder busy again (a new version published in that partition, a long build): an
    // inference whose versions are all indexed does not wait for it.
    endsAsked.length = 0;
    builderAt['p.ingest/0'] = 5;
    const [next] = await log.append('inference-i10', [inference('i10', texts[0]!, ['late@1'])], { expectedVersion: 'no_stream', producer: 'inference' });
    await writer.handle([{ ...next!, position: { partition: 'p.inference/1', offset: 42 } }]);
    assert.deepEqual(endsAsked, [], 'nothing to wait for');
    const nextReceipt = attributionCodec.decode((await log.readStream(receiptStream('i10')))[0]!)!;
    assert.ok(nextReceipt.type === 'AttributionComputed');
    assert.deepEqual(nextReceipt.data.datanetVersions, ['late@1']);
  });

  it('a build that fails for want of disk space is tried again, never set aside; abandoned builds are removed', async () => {
    const entry = { contributionId: 'c1', contentHash: '0x' + createHash('sha256').update(texts[1]!).digest('hex'), contributor: '0x11' };
    const [published] = await log.append('datanet-full', [event('opal.ingest.v1.DatanetVersionPublished', { datanetId: 'full', version: 1, carried: 0, entries: [entry], merkleRoot: '0x', totalBytes: 60n })], { expectedVersion: 'no_stream', producer: 'ingest' });
    const folder = join(dir, 'indexes-full');
    const files = new IndexDirectoryStore(folder);
    let fail = true;
    const filling = Object.assign(Object.create(files) as IndexDirectoryStore, {
      build: (...args: Parameters<IndexDirectoryStore['build']>) => (fail ? Promise.reject(Object.assign(new Error('no space left on device, write'), { code: 'ENOSPC' })) : files.build(...args)),
    });
    const builder = new IndexBuilderReactor(log, filling, new StoredContributionContent(content), { now: () => 1000 }, logger);
    await assert.rejects(builder.handle([published!]), (e: Error) => isTransient(e) && /index of full@1: the build failed on this machine \(ENOSPC/.test(e.message));
    assert.equal(await log.streamVersion(indexStream('full', 1)), 0);
    // What a process killed mid-build left (a pid no process has), and what a running one is writing.
    mkdirSync(join(folder, 'full@1.building-999999999-dead'), { recursive: true });
    mkdirSync(join(folder, `full@1.building-${process.ppid}-live`), { recursive: true });
    mkdirSync(join(folder, 'full@1.building'), { recursive: true }); // the folder of an earlier release's builds
    fail = false;
    await builder.handle([published!]);
    assert.equal(await log.streamVersion(indexStream('full', 1)), 1, 'built once there is room');
    assert.deepEqual(readdirSync(folder).sort(), ['full@1', `full@1.building-${process.ppid}-live`]);
  });

  it("a reactor's subscription that stops for good fails the process, as a read model's does", async () => {
    const given: SubscribeOptions[] = [];
    const quiet = { subscribe: (o: SubscribeOptions) => (given.push(o), { stop: async () => {}, cursor: () => ({}), sharedCursor: async () => ({}) }) } as unknown as EventLog;
    const host = new ProjectionHost(quiet, new MemoryDocumentStore(), logger, new ProcessMetrics());
    const files = new IndexDirectoryStore(join(dir, 'indexes-quiet'));
    const contentPort = new StoredContributionContent(content);
    const builder = new IndexBuilderReactor(quiet, files, contentPort, { now: () => 1 }, logger, host);
    const writer = new ReceiptWriterReactor(quiet, builder, new IndexCatalog(quiet, new LocalIndexes(files, store, contentPort, quiet)), { now: () => 1 }, logger, host);
    builder.onApplicationBootstrap();
    writer.onApplicationBootstrap();
    assert.deepEqual(given.map((o) => [o.name, typeof o.onFailed, typeof o.onDeadLettered]), [['attribution.index-builder', 'function', 'function'], ['attribution.receipt-writer', 'function', 'function']]);
    const error = new Error('group authorization failed');
    given[1]!.onFailed!(error);
    assert.deepEqual(await host.failed, { projection: 'attribution.receipt-writer', error });
  });
});
