import { createHash } from 'node:crypto';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { AttributionIndex, DocumentRef, MatchTable, QueryIndex } from './attribution-index.js';
import { documentAt } from './shard-search.js';

/**
 * Several indexes (for example the Datanet versions one adapter was trained on) queried as one:
 * the longest match at a position is the longest over every shard of every part, its count the
 * sum over the shards holding it, and shard numbers run on from one part to the next. Each part
 * keeps its own vocabulary, so the output is mapped to ids once per part.
 *
 * One part gives exactly the receipt of that index alone (same hash, same table).
 */
export class CombinedIndex implements QueryIndex {
  readonly tokenizer: Tokenizer;
  readonly indexHash: string;
  readonly tokens: number;
  readonly shardHashes: readonly string[];
  /** Global shard number -> (part, shard inside the part). */
  private readonly shardPart: Uint32Array;
  private readonly shardLocal: Uint32Array;

  constructor(readonly parts: readonly AttributionIndex[]) {
    if (parts.length === 0) throw new Error('CombinedIndex: give at least one index');
    this.tokenizer = parts[0]!.tokenizer;
    for (const p of parts) if (p.tokenizer.id !== this.tokenizer.id) throw new Error(`CombinedIndex: tokenizers differ (${p.tokenizer.id}, ${this.tokenizer.id})`);
    this.indexHash = parts.length === 1 ? parts[0]!.indexHash : combinedIndexHash(parts.map((p) => p.indexHash));
    this.tokens = parts.reduce((s, p) => s + p.tokens, 0);
    this.shardHashes = parts.flatMap((p) => p.shardHashes);
    const n = parts.reduce((s, p) => s + p.shards.length, 0);
    this.shardPart = new Uint32Array(n);
    this.shardLocal = new Uint32Array(n);
    let g = 0;
    parts.forEach((p, pi) => p.shards.forEach((_s, si) => ((this.shardPart[g] = pi), (this.shardLocal[g++] = si))));
  }

  matchWords(words: readonly string[]): MatchTable {
    if (this.parts.length === 1) return this.parts[0]!.matchWords(words);
    const m = words.length;
    const ns = this.shardPart.length;
    const length = new Uint32Array(m);
    const count = new Float64Array(m);
    const lo = new Uint32Array(m * ns);
    const hi = new Uint32Array(m * ns);
    const tables = this.parts.map((p) => p.matchWords(words));
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (const t of tables) if (t.length[i]! > best) best = t.length[i]!;
      length[i] = best;
      if (best === 0) continue;
      let offset = 0;
      for (let p = 0; p < tables.length; p++) {
        const t = tables[p]!;
        const pns = this.parts[p]!.shards.length;
        if (t.length[i] === best) {
          count[i] += t.count[i]!;
          for (let s = 0; s < pns; s++) {
            lo[i * ns + offset + s] = t.lo[i * pns + s]!;
            hi[i * ns + offset + s] = t.hi[i * pns + s]!;
          }
        }
        offset += pns;
      }
    }
    return { length, count, lo, hi };
  }

  occurrences(table: MatchTable, i: number): { shard: number; doc: number; pos: number }[] {
    if (this.parts.length === 1) return this.parts[0]!.occurrences(table, i);
    const ns = this.shardPart.length;
    const out: { shard: number; doc: number; pos: number }[] = [];
    for (let s = 0; s < ns; s++) {
      const shard = this.parts[this.shardPart[s]!]!.shards[this.shardLocal[s]!]!;
      for (let k = table.lo[i * ns + s]!; k < table.hi[i * ns + s]!; k++) {
        const pos = shard.suffixArray[k]!;
        out.push({ shard: s, doc: documentAt(shard, pos), pos });
      }
    }
    return out;
  }

  document(shard: number, doc: number): DocumentRef {
    return this.parts[this.shardPart[shard]!]!.document(this.shardLocal[shard]!, doc);
  }

  contribution(contributionId: string): DocumentRef | undefined {
    for (const p of this.parts) {
      const ref = p.contribution(contributionId);
      if (ref) return ref;
    }
    return undefined;
  }

  snippet(shard: number, pos: number, length: number, context: number): string {
    return this.parts[this.shardPart[shard]!]!.snippet(this.shardLocal[shard]!, pos, length, context);
  }
}

/** The name of a combination: SHA-256 over its parts' hashes, in the order given. */
export function combinedIndexHash(hashes: readonly string[]): string {
  return createHash('sha256').update(['opal-combined-index/1', ...hashes].join('\n')).digest('hex');
}
