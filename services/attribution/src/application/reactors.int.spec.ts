import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventCatalog } from '@opal/contracts';
import { EmbeddedEventLog, type NewEvent } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { createLogger } from '@opal/service-runtime';
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
    const writer = new ReceiptWriterReactor(log, builder, new IndexCatalog(log, new LocalIndexes(files, store, new StoredContributionContent(content))), clock, logger);
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
    const catalogB = new IndexCatalog(log, new LocalIndexes(filesB, store, new StoredContributionContent(content)));
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

    // Without the manifest in the read model there is nothing to build from: a clear error.
    const bare = new MemoryDocumentStore();
    await bare.prepare(versionsProjection.name, versionsProjection.collections);
    const catalogC = new IndexCatalog(log, new LocalIndexes(new IndexDirectoryStore(join(dir, 'indexes-c')), bare, new StoredContributionContent(content)));
    await assert.rejects(catalogC.openBuilt(refs), /net@1 are not on this machine, and its manifest is not in the versions read model yet/);
  });
});
