import type { IndexDocument } from '@opal/attribution-index';
import { TransientError } from '@opal/event-log';
import type { ContributionContent } from './attribution.ports.js';

// Below this many content bytes a shard builds on the calling thread: starting workers costs more.
const INLINE_BUILD_BYTES = 4n << 20n;

/** Worker threads for building the index of a version of `totalBytes` (the index is the same either way). */
export const buildWorkers = (totalBytes: bigint): number | undefined => (totalBytes < INLINE_BUILD_BYTES ? 0 : undefined);

/** Contents read together, one batch read ahead of the one being indexed. */
const READ_AHEAD = 64;

type Entry = { readonly contributionId: string; readonly contentHash: string; readonly contributor: string };

/** A manifest's contributions as index documents, in manifest order = acceptance order (the earliest copy keeps credit). */
export async function* manifestDocuments(entries: Iterable<Entry>, content: ContributionContent): AsyncIterable<IndexDocument> {
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  const batches = batchesOf(entries, READ_AHEAD);
  const read = (batch: IteratorResult<Entry[]>) => (batch.done ? undefined : content.readMany(batch.value.map((e) => e.contentHash)).then((bytes) => ({ batch: batch.value, bytes })));
  let next = read(batches.next());
  let order = 0;
  while (next) {
    const { batch, bytes } = await next;
    next = read(batches.next());
    // A read that fails while this batch is indexed is reported when it is awaited, not before.
    next?.catch(() => {});
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      yield { contributionId: entry.contributionId, contributor: entry.contributor, orderKey: order++, text: utf8.decode(bytes[i]) };
    }
  }
}

function* batchesOf(entries: Iterable<Entry>, size: number): Generator<Entry[]> {
  let batch: Entry[] = [];
  for (const e of entries) {
    batch.push(e);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/**
 * What the machine, not the version, lacks when an index build fails this way: space or handles on
 * the data volume, memory, a worker thread that could not start. Such a build goes through once it
 * is tried again; a log that set its event aside would leave the version without an index for good.
 */
const MACHINE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EBUSY', 'ERR_WORKER_INIT_FAILED', 'ERR_WORKER_OUT_OF_MEMORY']);

/** `build()`, with a failure of the machine (MACHINE_ERRORS) as a TransientError naming the version. */
export async function buildingTransient<T>(version: string, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && MACHINE_ERRORS.has(code)) {
      throw new TransientError(`index of ${version}: the build failed on this machine (${code}: ${(error as Error).message}); trying again`, { cause: error });
    }
    throw error;
  }
}
