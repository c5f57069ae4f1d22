import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentPackWriter, PackContentStore, readContentPack, type ContentStore } from '@opal/content-store';
import { MongoContentStore } from '@opal/document-store-mongo';
import type { Cursor, EventLog } from '@opal/event-log';
import { ingestCodec } from '@opal/ingest';
import type { OpalConfig } from '@opal/service-runtime';
import { isMongo, openEventLog, openMongoClient } from './backends.js';
import { takeDataLock } from './data-lock.js';

// The log holds each contribution's content hash, not its bytes, which live in the content store
// (the data folder's pack, or MongoDB scaled out). Moving a platform with `opal log export` and
// `opal log import` moves the log; these move the contents its contributions name beside it.

const SUBMITTED = ingestCodec.fullType('ContributionSubmitted');
const READ_BATCH = 256;

/** The content hashes the log's contributions name (each submitted one), each once, in log order. */
export async function contentHashesIn(log: Pick<EventLog, 'read'>): Promise<string[]> {
  const seen = new Set<string>();
  let cursor: Cursor | undefined;
  for (;;) {
    const { events, next } = await log.read(cursor, 5000);
    if (events.length === 0) return [...seen];
    cursor = next;
    for (const stored of events) {
      if (stored.type !== SUBMITTED) continue;
      const e = ingestCodec.decode(stored);
      if (e?.type === 'ContributionSubmitted') seen.add(e.data.contentHash);
    }
  }
}

export type ContentExport = { contents: number; bytes: number; missing: string[] };

/**
 * `opal content export --out FILE`: every content the log's contributions name, read from this
 * configuration's content store, to a pack file. Contents the store lacks are listed, not written:
 * the export fails naming them (the file is then not written).
 */
export async function exportContent(config: OpalConfig, out: string, onProgress?: (done: number, total: number) => void): Promise<ContentExport> {
  const log = await openEventLog(config, true);
  let hashes: string[];
  try {
    hashes = await contentHashesIn(log);
  } finally {
    await log.close();
  }
  const source = await openContentSource(config);
  const writer = new ContentPackWriter(out);
  const missing: string[] = [];
  try {
    for (let i = 0; i < hashes.length; i += READ_BATCH) {
      const batch = hashes.slice(i, i + READ_BATCH);
      const found = await source.getMany(batch);
      for (const h of batch) {
        const bytes = found.get(h);
        if (bytes) writer.add(h, bytes);
        else missing.push(h);
      }
      onProgress?.(Math.min(i + READ_BATCH, hashes.length), hashes.length);
    }
    if (missing.length > 0) {
      writer.abandon();
    } else {
      writer.finish();
    }
  } catch (error) {
    writer.abandon();
    throw error;
  } finally {
    await source.close();
  }
  return { contents: writer.contents, bytes: writer.bytes, missing };
}

/**
 * `opal content import FILE`: the contents of an export, each checked against its hash, into this
 * configuration's content store (MongoDB with --store mongodb://..., else the data folder's pack,
 * which is then locked as a node's is). Contents already there are left as they are.
 */
export async function importContent(config: OpalConfig, file: string, onProgress?: (done: number) => void): Promise<{ contents: number; bytes: number }> {
  const { store, release } = await openContentTarget(config);
  let contents = 0;
  let bytes = 0;
  try {
    for await (const batch of readContentPack(file)) {
      await Promise.all(batch.map((c) => store.put(c.contentHash, c.content)));
      contents += batch.length;
      bytes += batch.reduce((n, c) => n + c.content.length, 0);
      onProgress?.(contents);
    }
  } finally {
    await store.close();
    await release();
  }
  return { contents, bytes };
}

type ContentSource = Pick<ContentStore, 'getMany' | 'close'>;

/** The store an export reads: MongoDB's, or the data folder's pack read without writing it (its node may run). */
async function openContentSource(config: OpalConfig): Promise<ContentSource> {
  if (!isMongo(config)) return PackContentStore.openReadOnly(join(config.dataDir, 'content'));
  const client = await openMongoClient(config);
  const store = await MongoContentStore.connect({ url: config.store, client }).catch(async (error: unknown) => {
    await client.close();
    throw error;
  });
  return { getMany: (h) => store.getMany(h), close: async () => (await store.close(), await client.close()) };
}

/** The store an import writes: MongoDB's, or the data folder's pack, with the folder locked meanwhile. */
async function openContentTarget(config: OpalConfig): Promise<{ store: ContentStore; release(): Promise<void> }> {
  if (!isMongo(config)) {
    mkdirSync(config.dataDir, { recursive: true });
    const unlock = takeDataLock(config.dataDir);
    try {
      return { store: await PackContentStore.open(join(config.dataDir, 'content'), config.fsync), release: async () => unlock() };
    } catch (error) {
      unlock();
      throw error;
    }
  }
  const client = await openMongoClient(config);
  try {
    return { store: await MongoContentStore.connect({ url: config.store, client }), release: () => client.close() };
  } catch (error) {
    await client.close();
    throw error;
  }
}
