import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PackContentStore } from '@opal/content-store';
import { MemoryDocumentStore, type DocWrite } from '@opal/event-sourcing';
import { IngestError } from '../domain/ingest.errors.js';
import { ingestCatalogProjection, manifestPages, versionId, type ManifestEntryDoc, type VersionDoc } from '../projections/ingest-catalog.projection.js';
import { IngestQueries, MANIFEST_DEFAULT_LIMIT, MANIFEST_MAX_LIMIT } from './ingest.queries.js';

describe('IngestQueries.manifest: a version manifest read from its pages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-manifest-'));
  const total = 6 * manifestPages.size + 7;
  const entries: ManifestEntryDoc[] = Array.from({ length: total }, (_, i) => ({ contributionId: `c${i}`, contentHash: `h${i}`, contributor: `a${i % 5}` }));
  const store = new MemoryDocumentStore();
  let content: PackContentStore;
  let queries: IngestQueries;

  function version(datanetId: string, skipPage?: number): DocWrite[] {
    const pages = manifestPages.pages(total);
    const v: VersionDoc = { datanetId, version: 1, contributions: total, pages, merkleRoot: '0xroot', totalBytes: '10', publishedAt: 0 };
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
    queries = new IngestQueries(store, content);
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
