import type { IndexDocument } from '@opal/attribution-index';
import type { ContributionContent } from './attribution.ports.js';

// Below this many content bytes a shard builds on the calling thread: starting workers costs more.
const INLINE_BUILD_BYTES = 4n << 20n;

/** Worker threads for building the index of a version of `totalBytes` (the index is the same either way). */
export const buildWorkers = (totalBytes: bigint): number | undefined => (totalBytes < INLINE_BUILD_BYTES ? 0 : undefined);

/** A manifest's contributions as index documents, in manifest order = acceptance order (the earliest copy keeps credit). */
export async function* manifestDocuments(
  entries: Iterable<{ readonly contributionId: string; readonly contentHash: string; readonly contributor: string }>,
  content: ContributionContent,
): AsyncIterable<IndexDocument> {
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let order = 0;
  for (const entry of entries) {
    const bytes = await content.read(entry.contentHash);
    yield { contributionId: entry.contributionId, contributor: entry.contributor, orderKey: order++, text: utf8.decode(bytes) };
  }
}
