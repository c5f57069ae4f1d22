import { sortLmsSubstrings } from './lms-substrings.js';
import { sortByDoubling } from './prefix-doubling.js';

export type SuffixArrayOptions = {
  /**
   * How LMS substrings are sorted: by direct keys (default, two characters a key where they fit),
   * one character a key, or by induction. All give the same array; tests compare them.
   */
  readonly stage1?: Stage1;
  /** How a reduced problem is sorted: doubling when most names are distinct (default), always, or never. */
  readonly reduced?: Reduced;
};
type Stage1 = 'direct' | 'direct-one-item' | 'induce';
type Reduced = 'auto' | 'doubling' | 'recursion';
type Ways = { readonly stage1: Stage1; readonly reduced: Reduced };

/**
 * Suffix array construction by induced sorting (SA-IS, Nong, Zhang and Chan 2009): linear time,
 * integer alphabet of any size, so token ids are sorted directly with no remapping. Where the data
 * allows, stage 1 sorts LMS substrings by direct keys (lms-substrings.ts) and a reduced problem
 * with mostly distinct names is sorted by prefix doubling (prefix-doubling.ts, O(m log m) at
 * worst, a few rounds over word tokens) instead of recursing.
 *
 * The end-of-text sentinel is virtual (smaller than every id, never stored). Memory beyond the
 * text and the result: buckets over the alphabet (in the recursion, over the reduced alphabet;
 * prefix doubling instead needs 8 bytes per suffix of its largest tied group);
 * the L/S types ride in the text's sign bits (restored on return) and the reduced problem lives
 * inside the result array. `into`, when at least as long as the text, receives the result (the
 * returned array is a view over its start).
 */
export function buildSuffixArray(text: Uint32Array, alphabetSize: number, into?: Int32Array, options: SuffixArrayOptions = {}): Int32Array {
  const n = text.length;
  if (n >= 0x7fffffff) throw new RangeError('a shard holds fewer than 2^31 tokens');
  if (alphabetSize > 0x7fffffff) throw new RangeError('token ids must be below 2^31');
  // A caller building many shards passes the same array each time: no fresh allocation per shard
  // for the garbage collector to release late.
  const sa = into && into.length >= n ? into.subarray(0, n) : new Int32Array(n);
  if (n === 0) return sa;
  sais(new Int32Array(text.buffer, text.byteOffset, n), sa, n, alphabetSize, undefined, { stage1: options.stage1 ?? 'direct', reduced: options.reduced ?? 'auto' });
  return sa;
}

// The L/S type of each position is kept in the sign bit of the text itself (S = negative), so the
// induction loops read character and type with one random memory access instead of two. The marks
// are cleared before returning; ids therefore have to stay below 2^31.
const CHAR = 0x7fffffff;

function sais(t: Int32Array, sa: Int32Array, n: number, k: number, work: Int32Array | undefined, ways: Ways): void {
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  // The last position is L: the virtual sentinel after it is smaller than anything.
  let nextS = false;
  for (let i = n - 2; i >= 0; i--) {
    const c = t[i]!;
    const d = t[i + 1]! & CHAR;
    nextS = c < d || (c === d && nextS);
    if (nextS) t[i] = c | ~CHAR;
  }
  try {
    saisMarked(t, sa, n, k, work, ways);
  } finally {
    for (let i = 0; i < n; i++) t[i] = t[i]! & CHAR;
  }
}

// The loops below touch the text at positions read from the suffix array: random accesses, each
// a likely cache and TLB miss. They run in blocks: one pass gathers the characters a block needs
// (independent loads the processor overlaps), a second pass does the work that branches on them.
// A branch on a value still in flight would otherwise serialize the misses one by one.
const BLOCK = 256;
const gatheredAt = new Int32Array(BLOCK);
const gathered = new Int32Array(BLOCK);

function saisMarked(t: Int32Array, sa: Int32Array, n: number, k: number, work: Int32Array | undefined, ways: Ways): void {
  // A reduced problem's alphabet is as large as its count of distinct names (up to a third of the
  // text): its bucket arrays go into the caller's unused part of the suffix array when they fit.
  const [counts, bkt] = bucketArrays(k, work);
  for (let i = 0; i < n; i++) counts[t[i]! & CHAR]++;

  // Stage 1: sort and name the LMS substrings, directly by their characters where the keys fit
  // (lms-substrings.ts), else by one round of induced sorting.
  const direct = ways.stage1 === 'induce' ? undefined : sortLmsSubstrings(t, sa, n, k, bkt, ways.stage1 === 'direct' ? 2 : 1);
  const { n1, names } = direct ?? induceLmsSubstrings(t, sa, counts, bkt, n, k);
  for (let i = n - 1, j = n - 1; i >= n1; i--) if (sa[i]! >= 0) sa[j--] = sa[i]!;

  // Stage 2: sort the reduced string (by doubling or recursively, unless every name is unique).
  const s1 = sa.subarray(n - n1, n);
  const sa1 = sa.subarray(0, n1);
  // Mostly distinct names (word tokens) leave few ties for doubling to break; few distinct names
  // (small alphabets, long repeats) would take it many rounds, and recursion is linear.
  // Doubling sorts 64-bit keys in sa[0, 2 n1), clear of s1 when n1 <= n / 3 (about n / 3 here).
  const room = 3 * n1 <= n && sa.byteOffset % 8 === 0;
  const doubling = room && (ways.reduced === 'doubling' || (ways.reduced === 'auto' && 2 * names >= n1));
  if (names === n1) for (let i = 0; i < n1; i++) sa1[s1[i]!] = i;
  else if (doubling) sortByDoubling(s1, sa1, n1);
  else sais(s1, sa1, n1, names, sa.subarray(n1, n - n1), ways);

  // Stage 3: place the LMS suffixes in their final order and induce everything else from them.
  for (let i = 1, j = 0; i < n; i++) if (t[i]! < 0 && t[i - 1]! >= 0) s1[j++] = i;
  for (let i = 0; i < n1; i++) sa1[i] = s1[sa1[i]!]!;
  sa.fill(-1, n1, n);
  bucketEnds(counts, bkt, k);
  const g = gathered;
  // From the back, so a suffix moved to its bucket's end never lands on one not yet moved.
  for (let i = n1 - 1; i >= 0; i -= BLOCK) {
    const e = Math.max(-1, i - BLOCK);
    for (let q = i; q > e; q--) g[i - q] = t[sa[q]!]! & CHAR;
    for (let q = i; q > e; q--) {
      const p = sa[q]!;
      sa[q] = -1;
      sa[--bkt[g[i - q]!]!] = p;
    }
  }
  induce(t, sa, counts, bkt, n, k);
}

/** Stage 1 by induction: sorts the LMS substrings by one round of induced sorting, then names them. */
function induceLmsSubstrings(t: Int32Array, sa: Int32Array, counts: Int32Array, bkt: Int32Array, n: number, k: number): { n1: number; names: number } {
  sa.fill(-1);
  bucketEnds(counts, bkt, k);
  for (let i = 1; i < n; i++) {
    const c = t[i]!;
    if (c < 0 && t[i - 1]! >= 0) sa[--bkt[c & CHAR]!] = i;
  }
  induce(t, sa, counts, bkt, n, k);

  // Keep the LMS positions, in their sorted order, in sa[0, n1).
  let n1 = 0;
  const g = gathered;
  for (let i = 0; i < n; i += BLOCK) {
    const e = Math.min(n, i + BLOCK);
    for (let q = i; q < e; q++) {
      const p = sa[q]!;
      g[q - i] = p > 0 ? (t[p]! & ~CHAR) | (t[p - 1]! >>> 31) : 0;
    }
    // An LMS position: S type (sign bit set) after an L type (previous sign bit clear).
    for (let q = i; q < e; q++) if (g[q - i] === ~CHAR) sa[n1++] = sa[q]!;
  }
  // Name the sorted LMS substrings; equal substrings share a name. Names go to sa[n1 + p/2]:
  // LMS positions are at least two apart, so the slots are distinct and all past n1. Comparing
  // marked values compares character and type at once.
  sa.fill(-1, n1, n);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < n1; i += BLOCK) {
    const e = Math.min(n1, i + BLOCK);
    // Bring each substring's first characters into the cache before comparing.
    let touch = 0;
    for (let q = i; q < e; q++) touch |= t[sa[q]!]!;
    g[0] = touch;
    for (let q = i; q < e; q++) {
      const p = sa[q]!;
      let diff = prev < 0;
      for (let d = 0; !diff; d++) {
        const a = p + d;
        const b = prev + d;
        if (a === n || b === n || t[a] !== t[b]) diff = true;
        else if (d > 0 && t[a]! < 0 && t[a - 1]! >= 0) break;
      }
      if (diff) {
        names++;
        prev = p;
      }
      sa[n1 + (p >> 1)] = names - 1;
    }
  }
  return { n1, names };
}

/**
 * Induces L-type suffixes left to right, then S-type right to left. A slot can be filled or
 * overwritten after its block was gathered; the position gathered with it tells, and such a slot
 * reads its character directly.
 */
function induce(t: Int32Array, sa: Int32Array, counts: Int32Array, bkt: Int32Array, n: number, k: number): void {
  const at = gatheredAt;
  const g = gathered;
  bucketHeads(counts, bkt, k);
  // Suffix n-1 is L and directly follows the virtual sentinel.
  sa[bkt[t[n - 1]!]!++] = n - 1;
  for (let i = 0; i < n; i += BLOCK) {
    const e = Math.min(n, i + BLOCK);
    for (let q = i; q < e; q++) {
      const j = sa[q]! - 1;
      at[q - i] = j;
      g[q - i] = j >= 0 ? t[j]! : 0;
    }
    for (let q = i; q < e; q++) {
      const j = sa[q]! - 1;
      if (j >= 0) {
        const c = j === at[q - i] ? g[q - i]! : t[j]!;
        if (c >= 0) sa[bkt[c]!++] = j;
      }
    }
  }
  bucketEnds(counts, bkt, k);
  for (let i = n - 1; i >= 0; i -= BLOCK) {
    const e = Math.max(-1, i - BLOCK);
    for (let q = i; q > e; q--) {
      const j = sa[q]! - 1;
      at[i - q] = j;
      g[i - q] = j >= 0 ? t[j]! : 0;
    }
    for (let q = i; q > e; q--) {
      const j = sa[q]! - 1;
      if (j >= 0) {
        const c = j === at[i - q] ? g[i - q]! : t[j]!;
        if (c < 0) sa[--bkt[c & CHAR]!] = j;
      }
    }
  }
}

function bucketArrays(k: number, work: Int32Array | undefined): [Int32Array, Int32Array] {
  const w = work?.length ?? 0;
  const counts = w >= 2 * k ? work!.subarray(k, 2 * k).fill(0) : new Int32Array(k);
  const bkt = w >= k ? work!.subarray(0, k) : new Int32Array(k);
  return [counts, bkt];
}

function bucketHeads(counts: Int32Array, bkt: Int32Array, k: number): void {
  for (let c = 0, sum = 0; c < k; c++) {
    bkt[c] = sum;
    sum += counts[c]!;
  }
}

function bucketEnds(counts: Int32Array, bkt: Int32Array, k: number): void {
  for (let c = 0, sum = 0; c < k; c++) {
    sum += counts[c]!;
    bkt[c] = sum;
  }
}
