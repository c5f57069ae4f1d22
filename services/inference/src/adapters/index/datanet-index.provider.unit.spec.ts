import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PackContentStore } from '@opal/content-store';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { datanetVersionsProjection, readVersionManifest, versionPages } from '../../projections/datanet-versions.projection.js';
import { DatanetIndexProvider } from './datanet-index.provider.js';

// Versions of more entries than one page holds, the second carrying the first's: the provider
// builds a version's index from every page of every version that lists its entries, in order.
describe('DatanetIndexProvider over a paged version manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-dv-pages-'));
  const entries = Array.from({ length: 3 * versionPages.size + 100 }, (_, i) => ({
    contributionId: `0x${i.toString(16).padStart(64, '0')}`,
    contentHash: `0x${(i + 1).toString(16).padStart(64, 'f')}`,
    contributor: `0x${String(i % 7).padStart(40, '0')}`,
  }));
  // Version 1 ends inside a page: version 2's entries start on a fresh page of their own.
  const FIRST = versionPages.size + 10;
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
    // The whole events as ingest writes them; inference reads only part of them.
    const published = (version: number, carried: number, listed: typeof entries) => {
      const data = { datanetId: 'paged', version, carried, entries: listed, merkleRoot: `0x${'00'.repeat(32)}`, totalBytes: 1n };
      return codec.encode({ type: 'DatanetVersionPublished', data }, 1_700_000_000_000);
    };
    await log.append('datanet-paged', [published(1, 0, entries.slice(0, FIRST)), published(2, FIRST, entries.slice(FIRST))], { expectedVersion: 'no_stream', producer: 'test' });
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

  it('stores each version\'s own entries in pages and builds one index document per entry of the whole manifest', async () => {
    assert.deepEqual(await store.get('inference_datanet_versions', 'paged@1'), { id: 'paged@1', contributions: FIRST, carried: 0, pages: 2 });
    assert.deepEqual(await store.get('inference_datanet_versions', 'paged@2'), { id: 'paged@2', contributions: entries.length, carried: FIRST, pages: 3 });
    assert.deepEqual(await readVersionManifest(store, 'paged@2'), entries);
    assert.deepEqual(await readVersionManifest(store, 'paged@1'), entries.slice(0, FIRST));
    const provider = new DatanetIndexProvider(dir, store, content, () => runner.caughtUp());
    assert.equal((await provider.get('paged@2')).manifest.documents, entries.length);
    assert.equal((await provider.get('paged@1')).manifest.documents, FIRST);
  });

  it('refuses a version whose manifest is not all there', async () => {
    await store.commit('test', [{ collection: 'inference_datanet_versions', id: 'torn@1', doc: { id: 'torn@1', contributions: 10, carried: 0, pages: 1 } }], { cursor: {}, streams: {}, applied: 0 });
    // Version 2 of a Datanet whose version 1 is not there.
    await store.commit('test', [{ collection: 'inference_datanet_versions', id: 'gap@2', doc: { id: 'gap@2', contributions: 1, carried: 1, pages: 0 } }], { cursor: {}, streams: {}, applied: 0 });
    const provider = new DatanetIndexProvider(dir, store, content, () => runner.caughtUp());
    await assert.rejects(provider.get('torn@1'), /torn@1 is not published/);
    await assert.rejects(provider.get('gap@2'), /gap@2 is not published/);
  });
});
