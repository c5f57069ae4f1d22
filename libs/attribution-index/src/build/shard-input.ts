import { buildSuffixArray } from '../suffix-array/sais.js';
import type { ShardData } from '../format/shard-file.js';

/** What a builder hands over for one shard: documents already tokenized and concatenated. */
export type ShardInput = {
  readonly shard: number;
  readonly tokenizerId: string;
  /** Ids below this bound; 0 separates documents. */
  readonly alphabetSize: number;
  /** Each document's ids followed by a 0; `length` may be shorter than the buffer. */
  readonly tokens: Uint32Array;
  readonly docStarts: Uint32Array;
  readonly docOrder: Float64Array;
  readonly docIds: readonly string[];
  readonly docContributors: readonly string[];
};

/** Sorts the suffixes (into `saBuffer` when it is long enough) and lays out the lookup tables of one shard. */
export function buildShardData(input: ShardInput, saBuffer?: Int32Array): ShardData {
  const { tokens, alphabetSize: k } = input;
  const sa = buildSuffixArray(tokens, k, saBuffer);
  const buckets = new Uint32Array(k + 1);
  for (let i = 0; i < tokens.length; i++) buckets[tokens[i]! + 1]++;
  for (let c = 0; c < k; c++) buckets[c + 1] += buckets[c]!;
  const docIds = encodeStrings(input.docIds);
  const contributorIndex = new Map<string, number>();
  const docContributor = new Uint32Array(input.docContributors.length);
  input.docContributors.forEach((c, i) => {
    let idx = contributorIndex.get(c);
    if (idx === undefined) contributorIndex.set(c, (idx = contributorIndex.size));
    docContributor[i] = idx;
  });
  const contributors = encodeStrings([...contributorIndex.keys()]);
  return {
    shard: input.shard,
    tokenizerId: input.tokenizerId,
    alphabetSize: k,
    tokens,
    suffixArray: new Uint32Array(sa.buffer, sa.byteOffset, sa.length),
    buckets,
    docStarts: input.docStarts,
    docOrder: input.docOrder,
    docContributor,
    docIdOffsets: docIds.offsets,
    docIdBytes: docIds.bytes,
    contributorOffsets: contributors.offsets,
    contributorBytes: contributors.bytes,
  };
}

function encodeStrings(list: readonly string[]): { offsets: Uint32Array; bytes: Uint8Array } {
  const bytes = Buffer.from(list.join(''), 'utf8');
  const offsets = new Uint32Array(list.length + 1);
  for (let i = 0; i < list.length; i++) offsets[i + 1] = offsets[i]! + Buffer.byteLength(list[i]!, 'utf8');
  return { offsets, bytes };
}
