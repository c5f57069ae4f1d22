import { createHash } from 'node:crypto';

/** manifest.json of an index directory: what the shards and the vocabulary are, and their hashes. */
export type IndexManifest = {
  readonly format: 'opal-attribution-index';
  readonly formatVersion: 1;
  readonly tokenizerId: string;
  readonly vocabulary: { readonly file: string; readonly sha256: string; readonly words: number };
  readonly shards: readonly { readonly file: string; readonly sha256: string; readonly positions: number; readonly documents: number; readonly bytes: number }[];
  /** Word tokens (document separators not counted). */
  readonly tokens: number;
  readonly documents: number;
  /** SHA-256 over the format, tokenizer, vocabulary hash and shard hashes in order: names the index. */
  readonly indexHash: string;
};

export const MANIFEST_FILE = 'manifest.json';

export function computeIndexHash(m: Omit<IndexManifest, 'indexHash'>): string {
  const lines = [`${m.format}/${m.formatVersion}`, m.tokenizerId, m.vocabulary.sha256, ...m.shards.map((s) => s.sha256)];
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
