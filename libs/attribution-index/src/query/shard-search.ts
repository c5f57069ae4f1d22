import type { ShardData } from '../format/shard-file.js';

// Probes of the last search, kept to bracket the range of the longest match (no allocation per call).
const probeAt = new Int32Array(64);
const probeLcp = new Int32Array(64);

/**
 * Longest prefix of q[i..] that occurs in one shard. The first token's range comes from the bucket
 * table; one binary search for where q[i..] would sort inside it follows, comparing each probed
 * suffix from the prefix it must share with q (the smaller of its bounds' common prefixes). The
 * longest match is the longest common prefix with a neighbour of that place, and every probe is
 * remembered: its range is then found by two binary searches between the probes that bracket it.
 * Writes the range to range[0..1] unless the match is shorter than `need` (then no caller uses it);
 * returns the match length in tokens.
 *
 * No bounds checks on the text: a query never contains the separator 0 and every shard ends with
 * one, so a comparison stops at a document's end at the latest.
 */
export function longestMatchInShard(s: ShardData, q: Uint32Array, i: number, range: Uint32Array, need = 0): number {
  const { tokens, suffixArray: sa, buckets } = s;
  const first = q[i]!;
  if (first === 0 || first >= s.alphabetSize) return 0;
  const bLo = buckets[first]!;
  const bHi = buckets[first + 1]!;
  if (bLo === bHi) return 0;
  const rest = q.length - i;
  let best = 1;
  let probes = 0;
  if (rest > 1) {
    // Lower bound of q[i..] in [bLo, bHi); every suffix there shares the first token with it.
    let lo = bLo;
    let hi = bHi;
    let lcpLo = 1;
    let lcpHi = 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = sa[mid]!;
      let k = lcpLo < lcpHi ? lcpLo : lcpHi;
      while (k < rest && tokens[p + k] === q[i + k]) k++;
      probeAt[probes] = mid;
      probeLcp[probes++] = k;
      if (k > best) best = k;
      if (k === rest || tokens[p + k]! > q[i + k]!) {
        hi = mid;
        lcpHi = k;
      } else {
        lo = mid + 1;
        lcpLo = k;
      }
    }
  }
  if (best < need) return best;
  if (best === 1) {
    range[0] = bLo;
    range[1] = bHi;
    return 1;
  }
  // The suffixes sharing `best` tokens with q[i..] are contiguous and hold at least one probe.
  // Bracket each end of that run between the nearest probes inside and outside it.
  let inLo = 0x7fffffff;
  let inHi = -1;
  for (let t = 0; t < probes; t++) {
    if (probeLcp[t]! < best) continue;
    const at = probeAt[t]!;
    if (at < inLo) inLo = at;
    if (at > inHi) inHi = at;
  }
  let outLo = bLo - 1;
  let outLoLcp = 1;
  let outHi = bHi;
  let outHiLcp = 1;
  for (let t = 0; t < probes; t++) {
    const at = probeAt[t]!;
    if (probeLcp[t]! >= best) continue;
    if (at < inLo && at > outLo) (outLo = at), (outLoLcp = probeLcp[t]!);
    if (at > inHi && at < outHi) (outHi = at), (outHiLcp = probeLcp[t]!);
  }
  // First index in (outLo, inLo] sharing `best` tokens; all between share outLoLcp already.
  let a = outLo + 1;
  let b = inLo;
  while (a < b) {
    const mid = (a + b) >>> 1;
    const p = sa[mid]!;
    let k = outLoLcp;
    while (k < best && tokens[p + k] === q[i + k]) k++;
    if (k === best) b = mid;
    else a = mid + 1;
  }
  range[0] = a;
  // First index in (inHi, outHi] not sharing `best` tokens.
  a = inHi + 1;
  b = outHi;
  while (a < b) {
    const mid = (a + b) >>> 1;
    const p = sa[mid]!;
    let k = outHiLcp;
    while (k < best && tokens[p + k] === q[i + k]) k++;
    if (k === best) a = mid + 1;
    else b = mid;
  }
  range[1] = a;
  return best;
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
