import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PackContentStore } from '@opal/content-store';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { datanetVersionsProjection, versionPages } from '../../projections/datanet-versions.projection.js';
import { DatanetIndexProvider } from './datanet-index.provider.js';

// A version of more entries than one page holds: the provider builds its index from every page, in order.
describe('DatanetIndexProvider over a paged version manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-dv-pages-'));
  const entries = Array.from({ length: 2 * versionPages.size + 100 }, (_, i) => ({
    contributionId: `0x${i.toString(16).padStart(64, '0')}`,
    contentHash: `0x${(i + 1).toString(16).padStart(64, 'f')}`,
    contributor: `0x${String(i % 7).padStart(40, '0')}`,
  }));
  let log: EmbeddedEventLog;
  let content: PackContentStore;
  let store: MemoryDocumentStore;
  let runner: ProjectionRunner<DomainEvent>;

  before(async () => {
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    content = await PackContentStore.open(join(dir, 'content'), false);
    store = new MemoryDocumentStore();
    for (const [i, e] of entries.entries()) await content.put(e.contentHash, Buffer.from(`document ${i} word${i % 13} tail${i}`));
    const codec = datanetVersionsProjection.codec;
    // The whole event as ingest writes it; inference reads only part of it.
    const data = { datanetId: 'paged', version: 1, entries, merkleRoot: `0x${'00'.repeat(32)}`, totalBytes: 1n };
    await log.append('datanet-paged', [codec.encode({ type: 'DatanetVersionPublished', data }, 1_700_000_000_000)], { expectedVersion: 'no_stream', producer: 'test' });
    runner = new ProjectionRunner(log, store, datanetVersionsProjection as unknown as Projection<DomainEvent>);
    await runner.start();
    await runner.caughtUp();
  });
  after(async () => {
    await runner.stop();
    await log.close();
    await content.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the manifest in pages and builds one index document per entry', async () => {
    assert.deepEqual(await store.get('inference_datanet_versions', 'paged@1'), { id: 'paged@1', contributions: entries.length, pages: 3 });
    const provider = new DatanetIndexProvider(dir, store, content, () => runner.caughtUp());
    const index = await provider.get('paged@1');
    assert.equal(index.manifest.documents, entries.length);
  });

  it('refuses a version whose manifest is not all there', async () => {
    await store.commit('test', [{ collection: 'inference_datanet_versions', id: 'torn@1', doc: { id: 'torn@1', contributions: 10, pages: 1 } }], { cursor: {}, streams: {}, applied: 0 });
    const provider = new DatanetIndexProvider(dir, store, content, () => runner.caughtUp());
    await assert.rejects(provider.get('torn@1'), /torn@1 is not published/);
  });
});
