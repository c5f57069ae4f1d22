/**
 * Suffix array construction by induced sorting (SA-IS, Nong, Zhang and Chan 2009): linear time,
 * integer alphabet of any size, so token ids are sorted directly with no remapping.
 *
 * The end-of-text sentinel is virtual (smaller than every id, never stored). Memory beyond the
 * text and the result: buckets over the alphabet (in the recursion, over the reduced alphabet);
 * the L/S types ride in the text's sign bits (restored on return) and the reduced problem lives
 * inside the result array.
 */
export function buildSuffixArray(text: Uint32Array, alphabetSize: number): Int32Array {
  const n = text.length;
  if (n >= 0x7fffffff) throw new RangeError('a shard holds fewer than 2^31 tokens');
  if (alphabetSize > 0x7fffffff) throw new RangeError('token ids must be below 2^31');
  const sa = new Int32Array(n);
  if (n === 0) return sa;
  sais(new Int32Array(text.buffer, text.byteOffset, n), sa, n, alphabetSize);
  return sa;
}

// The L/S type of each position is kept in the sign bit of the text itself (S = negative), so the
// induction loops read character and type with one random memory access instead of two. The marks
// are cleared before returning; ids therefore have to stay below 2^31.
const CHAR = 0x7fffffff;

function sais(t: Int32Array, sa: Int32Array, n: number, k: number): void {
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
    saisMarked(t, sa, n, k);
  } finally {
    for (let i = 0; i < n; i++) t[i] = t[i]! & CHAR;
  }
}

function saisMarked(t: Int32Array, sa: Int32Array, n: number, k: number): void {
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[t[i]! & CHAR]++;
  const bkt = new Int32Array(k);

  // Stage 1: sort the LMS substrings by one round of induced sorting.
  sa.fill(-1);
  bucketEnds(counts, bkt, k);
  for (let i = 1; i < n; i++) {
    const c = t[i]!;
    if (c < 0 && t[i - 1]! >= 0) sa[--bkt[c & CHAR]!] = i;
  }
  induce(t, sa, counts, bkt, n, k);

  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i]!;
    if (p > 0 && t[p]! < 0 && t[p - 1]! >= 0) sa[n1++] = p;
  }
  // Name the sorted LMS substrings; equal substrings share a name. Names go to sa[n1 + p/2]:
  // LMS positions are at least two apart, so the slots are distinct and all past n1. Comparing
  // marked values compares character and type at once.
  sa.fill(-1, n1, n);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const p = sa[i]!;
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
  for (let i = n - 1, j = n - 1; i >= n1; i--) if (sa[i]! >= 0) sa[j--] = sa[i]!;

  // Stage 2: sort the reduced string (recursively unless every name is unique).
  const s1 = sa.subarray(n - n1, n);
  const sa1 = sa.subarray(0, n1);
  if (names < n1) sais(s1, sa1, n1, names);
  else for (let i = 0; i < n1; i++) sa1[s1[i]!] = i;

  // Stage 3: place the LMS suffixes in their final order and induce everything else from them.
  for (let i = 1, j = 0; i < n; i++) if (t[i]! < 0 && t[i - 1]! >= 0) s1[j++] = i;
  for (let i = 0; i < n1; i++) sa1[i] = s1[sa1[i]!]!;
  sa.fill(-1, n1, n);
  bucketEnds(counts, bkt, k);
  for (let i = n1 - 1; i >= 0; i--) {
    const p = sa[i]!;
    sa[i] = -1;
    sa[--bkt[t[p]! & CHAR]!] = p;
  }
  induce(t, sa, counts, bkt, n, k);
}

function induce(t: Int32Array, sa: Int32Array, counts: Int32Array, bkt: Int32Array, n: number, k: number): void {
  bucketHeads(counts, bkt, k);
  // Suffix n-1 is L and directly follows the virtual sentinel.
  sa[bkt[t[n - 1]!]!++] = n - 1;
  for (let i = 0; i < n; i++) {
    const j = sa[i]! - 1;
    if (j >= 0) {
      const c = t[j]!;
      if (c >= 0) sa[bkt[c]!++] = j;
    }
  }
  bucketEnds(counts, bkt, k);
  for (let i = n - 1; i >= 0; i--) {
    const j = sa[i]! - 1;
    if (j >= 0) {
      const c = t[j]!;
      if (c < 0) sa[--bkt[c & CHAR]!] = j;
    }
  }
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
