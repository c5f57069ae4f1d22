import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadShardFile, type LoadedShard } from '../format/shard-file.js';
import { computeIndexHash, MANIFEST_FILE, type IndexManifest } from '../format/manifest.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { wordTokenizer } from '../tokenizer/word-tokenizer.js';
import { Vocabulary } from '../tokenizer/vocabulary.js';
import { documentAt, matchShards } from './shard-search.js';
import { sampleSuffixes, type SuffixSamples } from './suffix-samples.js';

export type OpenOptions = {
  /** Recompute every shard's SHA-256 while loading (reads each byte once more). Default true. */
  readonly verify?: boolean;
  /** Must have the id the index was built with; the default word tokenizer otherwise. */
  readonly tokenizer?: Tokenizer;
};

export type DocumentRef = { readonly contributionId: string; readonly contributor: string; readonly orderKey: number };

/** Longest match at every output position, over all shards as one index. */
export type MatchTable = {
  /** Match length in tokens at each position (0: the token does not occur). */
  readonly length: Uint32Array;
  /** Occurrences of that longest match, summed over shards. */
  readonly count: Float64Array;
  /** Per position and shard: suffix-array range [lo, hi) when that shard holds the longest match. */
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
};

/** What attribution and tracing query: one index, or several queried as one (CombinedIndex). */
export interface QueryIndex {
  readonly tokenizer: Tokenizer;
  /** Names the index (or the combination) in receipts. */
  readonly indexHash: string;
  /** Word tokens indexed, over every shard: the N of the rarity weight. */
  readonly tokens: number;
  readonly shardHashes: readonly string[];
  /** Longest match and count at each position of the tokenized output, over every shard. */
  matchWords(words: readonly string[]): MatchTable;
  occurrences(table: MatchTable, i: number): { shard: number; doc: number; pos: number }[];
  document(shard: number, doc: number): DocumentRef;
  contribution(contributionId: string): DocumentRef | undefined;
  snippet(shard: number, pos: number, length: number, context: number): string;
}

const utf8 = new TextDecoder();

/** An index directory loaded for querying: shards as typed-array views, the vocabulary as a map. */
export class AttributionIndex implements QueryIndex {
  private byContribution?: Map<string, DocumentRef>;
  private samples?: SuffixSamples[];

  private constructor(
    readonly manifest: IndexManifest,
    readonly vocabulary: Vocabulary,
    readonly tokenizer: Tokenizer,
    readonly shards: readonly LoadedShard[],
  ) {}

  static open(dir: string, options: OpenOptions = {}): AttributionIndex {
    const verify = options.verify ?? true;
    const tokenizer = options.tokenizer ?? wordTokenizer;
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as IndexManifest;
    if (manifest.format !== 'opal-attribution-index' || manifest.formatVersion !== 1) throw new Error(`${dir}: unsupported index format`);
    if (manifest.tokenizerId !== tokenizer.id) throw new Error(`${dir}: built with tokenizer ${manifest.tokenizerId}, not ${tokenizer.id}`);
    const { indexHash, ...rest } = manifest;
    if (computeIndexHash(rest) !== indexHash) throw new Error(`${dir}: manifest hash mismatch`);
    const vocabBytes = readFileSync(join(dir, manifest.vocabulary.file));
    if (createHash('sha256').update(vocabBytes).digest('hex') !== manifest.vocabulary.sha256) throw new Error(`${dir}: vocabulary checksum mismatch`);
    const shards = manifest.shards.map((s, i) => {
      const shard = loadShardFile(join(dir, s.file), verify);
      if (shard.sha256 !== s.sha256 || shard.shard !== i || shard.tokenizerId !== tokenizer.id) throw new Error(`${dir}/${s.file}: does not belong to this manifest`);
      return shard;
    });
    return new AttributionIndex(manifest, Vocabulary.deserialize(vocabBytes), tokenizer, shards);
  }

  get indexHash(): string {
    return this.manifest.indexHash;
  }

  get tokens(): number {
    return this.manifest.tokens;
  }

  get shardHashes(): readonly string[] {
    return this.manifest.shards.map((s) => s.sha256);
  }

  matchWords(words: readonly string[]): MatchTable {
    const q = new Uint32Array(words.length);
    for (let i = 0; i < q.length; i++) q[i] = this.vocabulary.lookup(words[i]!);
    return this.matchAll(q);
  }

  /** Bytes of the finished index on disk (shards, vocabulary and manifest excluded: tiny). */
  get bytes(): number {
    return this.shards.reduce((s, x) => s + x.fileBytes, 0);
  }

  /** Longest match at each position of `q` and its count, over every shard. */
  matchAll(q: Uint32Array): MatchTable {
    this.samples ??= this.shards.map((s) => sampleSuffixes(s));
    return matchShards(this.shards, q, this.samples);
  }

  /** Every occurrence of the longest match at position i, as (shard, document, text position). */
  occurrences(table: MatchTable, i: number): { shard: number; doc: number; pos: number }[] {
    const ns = this.shards.length;
    const out: { shard: number; doc: number; pos: number }[] = [];
    for (let s = 0; s < ns; s++) {
      const shard = this.shards[s]!;
      for (let k = table.lo[i * ns + s]!; k < table.hi[i * ns + s]!; k++) {
        const pos = shard.suffixArray[k]!;
        out.push({ shard: s, doc: documentAt(shard, pos), pos });
      }
    }
    return out;
  }

  document(shard: number, doc: number): DocumentRef {
    const s = this.shards[shard]!;
    const ci = s.docContributor[doc]!;
    return {
      contributionId: utf8.decode(s.docIdBytes.subarray(s.docIdOffsets[doc]!, s.docIdOffsets[doc + 1]!)),
      contributor: utf8.decode(s.contributorBytes.subarray(s.contributorOffsets[ci]!, s.contributorOffsets[ci + 1]!)),
      orderKey: s.docOrder[doc]!,
    };
  }

  /** Looks a contribution up by id (builds the id map on first use). */
  contribution(contributionId: string): DocumentRef | undefined {
    if (!this.byContribution) {
      this.byContribution = new Map();
      this.shards.forEach((s, si) => {
        for (let d = 0; d < s.docOrder.length; d++) {
          const ref = this.document(si, d);
          this.byContribution!.set(ref.contributionId, ref);
        }
      });
    }
    return this.byContribution.get(contributionId);
  }

  /** Words of a document around a text position, for showing a match to a person. */
  snippet(shard: number, pos: number, length: number, context: number): string {
    const s = this.shards[shard]!;
    const doc = documentAt(s, pos);
    const from = Math.max(s.docStarts[doc]!, pos - context);
    const to = Math.min(s.docStarts[doc + 1]! - 1, pos + length + context);
    const words: string[] = [];
    for (let p = from; p < to; p++) words.push((p === pos ? '[' : '') + this.vocabulary.word(s.tokens[p]!) + (p === pos + length - 1 ? ']' : ''));
    return words.join(' ');
  }
}
