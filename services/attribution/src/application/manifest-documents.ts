import type { IndexDocument } from '@opal/attribution-index';
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
