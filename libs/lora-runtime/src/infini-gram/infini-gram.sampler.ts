import { longestMatchInShard, type AttributionIndex } from '@opal/attribution-index';

const SEPARATOR = 0;

/**
 * Next-word sampling from a Datanet version's suffix arrays (an infini-gram model): the longest
 * suffix of the context that occurs in the index picks the occurrences, and one of them, drawn
 * with the seeded stream, gives the next word. No weights: every word it writes continues a passage
 * that is in the corpus, so attribution finds its sources.
 */
export class InfiniGramSampler {
  private readonly range = new Uint32Array(2);
  private readonly totalPositions: number;

  constructor(
    private readonly index: AttributionIndex,
    private readonly maxContext = 8,
  ) {
    this.totalPositions = index.shards.reduce((s, x) => s + x.tokens.length, 0);
  }

  /** Word ids of a text (unknown words are ids no shard holds). */
  encode(text: string): number[] {
    const { words } = this.index.tokenizer.tokenize(text);
    return words.map((w) => this.index.vocabulary.lookup(w));
  }

  word(id: number): string {
    return this.index.vocabulary.word(id);
  }

  /** The next word id after `context`, or SEPARATOR (0) when the matched passage ends there. */
  next(context: readonly number[], rand: () => number): number {
    const n = context.length;
    const q = Uint32Array.from(context.slice(Math.max(0, n - this.maxContext)));
    for (let j = 0; j < q.length; j++) {
      const want = q.length - j;
      const ranges: [number, number, number][] = [];
      let total = 0;
      this.index.shards.forEach((shard, s) => {
        const d = longestMatchInShard(shard, q, j, this.range);
        if (d !== want || this.range[1]! <= this.range[0]!) return;
        ranges.push([s, this.range[0]!, this.range[1]!]);
        total += this.range[1]! - this.range[0]!;
      });
      if (total === 0) continue;
      let k = Math.floor(rand() * total);
      for (const [s, lo, hi] of ranges) {
        if (k < hi - lo) {
          const shard = this.index.shards[s]!;
          return shard.tokens[shard.suffixArray[lo + k]! + want]!;
        }
        k -= hi - lo;
      }
    }
    return this.start(rand);
  }

  /** A passage start: the first word of a document drawn by position, so longer documents weigh more. */
  start(rand: () => number): number {
    let k = Math.floor(rand() * this.totalPositions);
    for (const shard of this.index.shards) {
      if (k < shard.tokens.length) {
        const starts = shard.docStarts;
        let a = 0;
        let b = starts.length - 1;
        while (b - a > 1) {
          const mid = (a + b) >>> 1;
          if (starts[mid]! <= k) a = mid;
          else b = mid;
        }
        return shard.tokens[starts[a]!] ?? SEPARATOR;
      }
      k -= shard.tokens.length;
    }
    return SEPARATOR;
  }
}
