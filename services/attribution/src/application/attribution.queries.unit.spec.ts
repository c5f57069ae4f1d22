import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '@opal/event-sourcing';
import { AttributionError, type AttributionErrorCode } from '../domain/attribution.errors.js';
import { receiptsProjection } from '../projections/receipts.projection.js';
import { versionsProjection } from '../projections/versions.projection.js';
import type { IndexFiles } from './attribution.ports.js';
import { AttributionQueries } from './attribution.queries.js';
import { LocalIndexes } from './local-indexes.js';

const checkpoint = { cursor: {}, streams: {}, applied: 0 };
const brokenFiles: IndexFiles = {
  build: () => Promise.reject(new Error('not here')),
  has: () => true,
  open: () => {
    throw new Error('index files of net@3 are missing');
  },
};

// The log as the queries read it: the outcome first in each inference's stream.
const outcomes: Record<string, string> = { 'inference-done': 'opal.inference.v1.InferenceCompleted', 'inference-failed': 'opal.inference.v1.InferenceFailed' };
const log = { readStream: async (stream: string) => (outcomes[stream] ? [{ type: outcomes[stream] } as never] : []) };

async function queries(): Promise<AttributionQueries> {
  const store = new MemoryDocumentStore();
  await store.prepare(receiptsProjection.name, receiptsProjection.collections);
  await store.prepare(versionsProjection.name, versionsProjection.collections);
  await store.commit(versionsProjection.name, [1, 3].map((v) => ({ collection: 'attribution_versions', id: `net@${v}`, doc: { datanetId: 'net', version: v, contributions: 2, totalBytes: '10' } })), checkpoint);
  await store.commit(receiptsProjection.name, [{ collection: 'attribution_indexes', id: 'net@3', doc: { datanetId: 'net', version: 3, indexHash: 'ab', tokens: '9', shards: 1, tokenizer: 't', documents: 2 } }], checkpoint);
  const content = { readMany: () => Promise.reject(new Error('no content here')) };
  return new AttributionQueries(store, new LocalIndexes(brokenFiles, store, content, { readStream: async () => [] }), { readCaughtUp: (_service, read) => read() }, log);
}

const rejectsWith = (p: Promise<unknown>, code: AttributionErrorCode, field: RegExp) =>
  assert.rejects(p, (e: AttributionError) => e instanceof AttributionError && e.code === code && field.test(e.message));

describe('attribution queries: receipts', () => {
  it('a completed inference whose receipt is not written yet is RECEIPT_PENDING, not NOT_FOUND', async () => {
    await rejectsWith((await queries()).receipt('done'), 'RECEIPT_PENDING', /^inference_id: the receipt of done is being computed; retry shortly$/);
  });

  it('an inference that failed, or never was, has no receipt: RECEIPT_NOT_FOUND', async () => {
    await rejectsWith((await queries()).receipt('failed'), 'RECEIPT_NOT_FOUND', /^inference_id: no attribution receipt for failed \(it did not complete\)$/);
    await rejectsWith((await queries()).receipt('never'), 'RECEIPT_NOT_FOUND', /^inference_id: no attribution receipt for never$/);
  });
});

describe('attribution queries: which versions can be queried', () => {
  it('given a published version without an index, when attributed against, then INDEX_BUILDING names the version', async () => {
    await rejectsWith((await queries()).attribute('some text', ['net@1'], []), 'INDEX_BUILDING', /datanet_versions: .*net@1.*still being built/);
  });

  it('given a version never published, when traced, then VERSION_NOT_FOUND', async () => {
    await rejectsWith((await queries()).trace('some text', ['net@2'], 0, 0), 'VERSION_NOT_FOUND', /datanet_versions: .*net@2/);
  });

  it('given a built index whose files cannot be read, when attributed, then INDEX_UNAVAILABLE with the reason', async () => {
    await rejectsWith((await queries()).attribute('some text', ['net@3'], []), 'INDEX_UNAVAILABLE', /net@3.*missing/);
  });

  it('given bad fields, when queried, then each error names its field', async () => {
    const q = await queries();
    await rejectsWith(q.attribute('', ['net@3'], []), 'INVALID_FIELD', /^text/);
    await rejectsWith(q.trace('x', ['net@3'], 51, 0), 'INVALID_FIELD', /^max_documents/);
    await rejectsWith(q.receipt(''), 'INVALID_FIELD', /^inference_id/);
    await rejectsWith(q.receipt('i9'), 'RECEIPT_NOT_FOUND', /^inference_id/);
  });
});
