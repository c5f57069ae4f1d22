import type { ShardData } from '../format/shard-file.js';
import { narrowBySamples, type SuffixSamples } from './suffix-samples.js';

/**
 * Longest prefix of q[i..] that occurs in one shard, found by narrowing the suffix-array range one
 * token at a time: the first token's range comes from the bucket table, each next token is two
 * binary searches inside the current range, and once one suffix is left the rest is a plain
 * comparison. With `samples`, large ranges at the second and third token are narrowed through
 * them (same range, fewer cache misses). Writes the final range to range[0..1]; returns the match
 * length in tokens.
 *
 * No bounds checks on the text: a query never contains the separator 0 and every shard ends with
 * one, so a suffix that matched d query tokens always has a token at offset d.
 */
export function longestMatchInShard(s: ShardData, q: Uint32Array, i: number, range: Uint32Array, samples?: SuffixSamples): number {
  const { tokens, suffixArray: sa, buckets } = s;
  const m = q.length;
  const first = q[i]!;
  if (first === 0 || first >= s.alphabetSize) return 0;
  let lo = buckets[first]!;
  let hi = buckets[first + 1]!;
  if (lo === hi) return 0;
  let d = 1;
  while (i + d < m) {
    const c = q[i + d]!;
    // A large range is narrowed through the samples while they reach this deep.
    if (samples && narrowBySamples(s, samples, d, lo, hi, c, range)) {
      if (range[0] === range[1]) break;
      lo = range[0]!;
      hi = range[1]!;
      d++;
      continue;
    }
    if (hi - lo === 1) {
      const p = sa[lo]!;
      while (i + d < m && tokens[p + d] === q[i + d]) d++;
      break;
    }
    // Search for any suffix with token c at depth d, then split the two bound searches at it:
    // the steps above the first hit are shared instead of done twice.
    let a = lo;
    let b = hi;
    let hit = -1;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const v = tokens[sa[mid]! + d]!;
      if (v < c) a = mid + 1;
      else if (v > c) b = mid;
      else {
        hit = mid;
        break;
      }
    }
    if (hit < 0) break;
    let x = a;
    let y = hit;
    while (x < y) {
      const mid = (x + y) >>> 1;
      if (tokens[sa[mid]! + d]! < c) x = mid + 1;
      else y = mid;
    }
    const newLo = x;
    x = hit + 1;
    y = b;
    while (x < y) {
      const mid = (x + y) >>> 1;
      if (tokens[sa[mid]! + d]! <= c) x = mid + 1;
      else y = mid;
    }
    a = x;
    lo = newLo;
    hi = a;
    d++;
  }
  range[0] = lo;
  range[1] = hi;
  return d;
}

/** Document holding text position `pos` (binary search over document starts). */
export function documentAt(s: ShardData, pos: number): number {
  const starts = s.docStarts;
  let a = 0;
  let b = starts.length - 1;
  while (b - a > 1) {
    const mid = (a + b) >>> 1;
    if (starts[mid]! <= pos) a = mid;
    else b = mid;
  }
  return a;
}

/** Longest match at each output position over a set of shards (see MatchTable). */
export type ShardMatches = {
  readonly length: Uint32Array;
  readonly count: Float64Array;
  /** Per position and shard (index i * shards + s): the range when that shard holds the longest match. */
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
};

/** Longest match and its count at every position of `q`, over every shard. */
export function matchShards(shards: readonly ShardData[], q: Uint32Array, samples?: readonly SuffixSamples[]): ShardMatches {
  const m = q.length;
  const ns = shards.length;
  const length = new Uint32Array(m);
  const count = new Float64Array(m);
  const lo = new Uint32Array(m * ns);
  const hi = new Uint32Array(m * ns);
  const range = new Uint32Array(2);
  for (let i = 0; i < m; i++) {
    let best = 0;
    let total = 0;
    for (let s = 0; s < ns; s++) {
      const len = longestMatchInShard(shards[s]!, q, i, range, samples?.[s]);
      if (len === 0 || len < best) continue;
      if (len > best) {
        best = len;
        total = 0;
        for (let t = 0; t < s; t++) hi[i * ns + t] = lo[i * ns + t] = 0;
      }
      lo[i * ns + s] = range[0]!;
      hi[i * ns + s] = range[1]!;
      total += range[1]! - range[0]!;
    }
    length[i] = best;
    count[i] = total;
  }
  return { length, count, lo, hi };
}
