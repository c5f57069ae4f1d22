import { buildSuffixArray } from '../suffix-array/sais.js';
import type { ShardData } from '../format/shard-file.js';
import type { DocumentTable } from './document-table.js';

/** What a builder hands over for one shard: documents already tokenized and concatenated. */
export type ShardInput = DocumentTable & {
  readonly shard: number;
  readonly tokenizerId: string;
  /** Ids below this bound; 0 separates documents. */
  readonly alphabetSize: number;
  /** Each document's ids followed by a 0; `length` may be shorter than the buffer. */
  readonly tokens: Uint32Array;
};

/** Sorts the suffixes (into `saBuffer` when it is long enough) and lays out the lookup tables of one shard. */
export function buildShardData(input: ShardInput, saBuffer?: Int32Array): ShardData {
  const { tokens, alphabetSize: k } = input;
  const sa = buildSuffixArray(tokens, k, saBuffer);
  const buckets = new Uint32Array(k + 1);
  for (let i = 0; i < tokens.length; i++) buckets[tokens[i]! + 1]++;
  for (let c = 0; c < k; c++) buckets[c + 1] += buckets[c]!;
  return {
    shard: input.shard,
    tokenizerId: input.tokenizerId,
    alphabetSize: k,
    tokens,
    suffixArray: new Uint32Array(sa.buffer, sa.byteOffset, sa.length),
    buckets,
    docStarts: input.docStarts,
    docOrder: input.docOrder,
    docContributor: input.docContributor,
    docIdOffsets: input.docIdOffsets,
    docIdBytes: input.docIdBytes,
    contributorOffsets: input.contributorOffsets,
    contributorBytes: input.contributorBytes,
  };
}
