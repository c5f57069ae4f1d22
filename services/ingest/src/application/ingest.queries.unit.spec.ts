import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PackContentStore } from '@opal/content-store';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DocWrite, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { ingestCodec } from './datanet.repository.js';
import { datanetStream, type IngestEvent } from '../domain/ingest.events.js';
import { IngestError } from '../domain/ingest.errors.js';
import { ingestCatalogProjection, manifestPages, versionId, type DatanetDoc, type ManifestEntryDoc, type VersionDoc } from '../projections/ingest-catalog.projection.js';
import { ingestContributionsProjection } from '../projections/ingest-contributions.projection.js';
import { IngestQueries, MANIFEST_DEFAULT_LIMIT, MANIFEST_MAX_LIMIT } from './ingest.queries.js';

/** Read models that are always caught up: a query reads once. */
const readOnce = { readCaughtUp: <T>(_service: string, read: () => Promise<T | undefined>) => read() };

describe('IngestQueries.manifest: a version manifest read from its pages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-manifest-'));
  const total = 6 * manifestPages.size + 7;
  const entries: ManifestEntryDoc[] = Array.from({ length: total }, (_, i) => ({ contributionId: `c${i}`, contentHash: `h${i}`, contributor: `a${i % 5}` }));
  const store = new MemoryDocumentStore();
  let content: PackContentStore;
  let queries: IngestQueries;

  function version(datanetId: string, skipPage?: number): DocWrite[] {
    const pages = manifestPages.pages(total);
    const v: VersionDoc = { datanetId, version: 1, contributions: total, carried: 0, pages, merkleRoot: '0xroot', totalBytes: '10', publishedAt: 0 };
    const writes: DocWrite[] = [{ collection: 'ingest_versions', id: versionId(datanetId, 1), doc: v }];
    for (let page = 0; page < pages; page++) {
      if (page === skipPage) continue;
      const ref = { collection: manifestPages.collection, id: manifestPages.pageId(versionId(datanetId, 1), page) };
      writes.push({ ...ref, doc: manifestPages.page(ref, entries, (e) => e) });
    }
    return writes;
  }

  before(async () => {
    content = await PackContentStore.open(join(dir, 'content'), false);
    queries = new IngestQueries(store, content, readOnce);
    await store.prepare(ingestCatalogProjection.name, ingestCatalogProjection.collections);
    await store.commit('test', [...version('whole'), ...version('torn', 2)], { cursor: {}, streams: {}, applied: 0 });
  });
  after(async () => {
    await content.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns entries [offset, offset + limit) across page boundaries', async () => {
    const at = (offset: number, limit: number) => queries.manifest({ datanetId: 'whole', version: 1, offset, limit });
    assert.deepEqual((await at(0, 0)).entries, entries.slice(0, MANIFEST_DEFAULT_LIMIT));
    assert.deepEqual((await at(manifestPages.size - 3, 6)).entries, entries.slice(manifestPages.size - 3, manifestPages.size + 3));
    assert.deepEqual((await at(1, MANIFEST_MAX_LIMIT * 2)).entries, entries.slice(1, 1 + MANIFEST_MAX_LIMIT));
    assert.deepEqual((await at(total - 2, 100)).entries, entries.slice(total - 2));
    assert.deepEqual((await at(total, 100)).entries, []);
    assert.equal((await at(0, 1)).version.contributions, total);
  });

  it('says a manifest with a page not yet written is incomplete, and serves the pages that are there', async () => {
    await assert.rejects(
      queries.manifest({ datanetId: 'torn', version: 1, offset: 0, limit: MANIFEST_MAX_LIMIT }),
      (e: unknown) => e instanceof IngestError && e.code === 'VERSION_INCOMPLETE' && e.message.startsWith('version:'),
    );
    assert.deepEqual((await queries.manifest({ datanetId: 'torn', version: 1, offset: 0, limit: 10 })).entries, entries.slice(0, 10));
  });
});

describe('IngestQueries.manifest: versions that carry the previous version\'s entries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-manifest-grown-'));
  const size = manifestPages.size;
  const whole: ManifestEntryDoc[] = Array.from({ length: 3 * size + 50 }, (_, i) => ({ contributionId: `g${i}`, contentHash: `h${i}`, contributor: `a${i % 3}` }));
  // [carried, end): v1 lists [0, 1.5 pages); v2 carries it and lists up to 2 pages + 7; v3 was
  // written whole (before versions carried entries); v4 carries v3's and lists the rest.
  const spans = [
    [0, size + size / 2],
    [size + size / 2, 2 * size + 7],
    [0, 3 * size],
    [3 * size, whole.length],
  ] as const;
  let log: EmbeddedEventLog;
  let content: PackContentStore;
  let queries: IngestQueries;
  const store = new MemoryDocumentStore();

  before(async () => {
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    content = await PackContentStore.open(join(dir, 'content'), false);
    queries = new IngestQueries(store, content, readOnce);
    const datanetId = 'grown';
    const events: IngestEvent[] = [
      { type: 'DatanetCreated', data: { datanetId, name: 'Grown', description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: '0xowner', policy: { maxItemBytes: 4096, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 0, validators: [] } } },
      ...spans.map(([carried, end], i): IngestEvent => ({
        type: 'DatanetVersionPublished',
        data: { datanetId, version: i + 1, carried, entries: whole.slice(carried, end), merkleRoot: `0x${i}`, totalBytes: BigInt(end) },
      })),
    ];
    await log.append(datanetStream(datanetId), events.map((e) => ingestCodec.encode(e, 1_700_000_000_000)), { expectedVersion: 'no_stream', producer: 'ingest' });
    const runner = new ProjectionRunner(log, store, ingestCatalogProjection as unknown as Projection<DomainEvent>);
    await runner.start();
    await runner.caughtUp();
    await runner.stop();
  });
  after(async () => {
    await log.close();
    await content.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves every range of every version, each entry from the version that listed it', async () => {
    for (const [i, [carried, end]] of spans.entries()) {
      const version = i + 1;
      const first = await queries.manifest({ datanetId: 'grown', version, offset: 0, limit: 1 });
      assert.equal(first.version.contributions, end);
      assert.equal(first.version.carried, carried);
      assert.equal(first.version.pages, manifestPages.pages(end - carried), 'a version stores only what its event lists');
      for (const offset of [0, 1, size - 1, size, size + size / 2 - 1, size + size / 2, 2 * size + 3, 3 * size - 2, end - 1, end]) {
        for (const limit of [1, 5, size + 3]) {
          const page = await queries.manifest({ datanetId: 'grown', version, offset, limit });
          assert.deepEqual(page.entries, whole.slice(Math.min(offset, end), Math.min(offset + limit, end)), `v${version} offset ${offset} limit ${limit}`);
        }
      }
    }
    assert.equal((await queries.manifest({ datanetId: 'grown', version: 0, offset: 0, limit: 1 })).version.version, 4);
  });
});

describe('IngestQueries on an unknown Datanet', () => {
  it('answers NOT_FOUND for its contributions and leaderboard, an empty list for a known one without any', async () => {
    const store = new MemoryDocumentStore();
    for (const p of [ingestCatalogProjection, ingestContributionsProjection]) await store.prepare(p.name, p.collections);
    const known: DatanetDoc = { datanetId: 'known', name: 'Known', description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: '0xowner', policy: { maxItemBytes: 1, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 0, validators: [] }, createdAt: 0, latestVersion: 0, accepted: 0, rejected: 0, pendingReview: 0 };
    await store.commit('test', [{ collection: 'ingest_datanets', id: 'known', doc: known }], { cursor: {}, streams: {}, applied: 0 });
    const queries = new IngestQueries(store, undefined as never, readOnce);
    const notFound = (e: unknown) => e instanceof IngestError && e.code === 'DATANET_NOT_FOUND' && /datanet_id: no Datanet nope/.test(e.message);
    await assert.rejects(queries.leaderboard('nope', 10), notFound);
    await assert.rejects(queries.contributions({ contributor: '', datanetId: 'nope', limit: 10, offset: 0, pageToken: '' }), notFound);
    assert.deepEqual(await queries.leaderboard('known', 10), []);
    assert.deepEqual(await queries.contributions({ contributor: '', datanetId: 'known', limit: 10, offset: 0, pageToken: '' }), { items: [], total: 0, nextPageToken: '' });
    assert.deepEqual(await queries.leaderboard('', 10), [], 'every Datanet: none has contributors yet');
  });
});
