/**
 * Suffix sorting by prefix doubling (Larsson and Sadakane 2007) for SA-IS's reduced problem when
 * most of its names are distinct.
 *
 * Over word tokens the reduced string has nearly as many names as positions (87% distinct at
 * 50M tokens). Recursing then costs two induction passes over buckets as many as the positions,
 * each access a cache miss. Here the suffixes are bucketed by their first name once and only the
 * groups still tied are sorted again, by the rank of the suffix h names on, h doubling every
 * round: with few ties, one or two rounds over a small part of the string. Long repeats take more
 * rounds (O(m log m) at worst), so the caller chooses this only when names are mostly distinct.
 *
 * Takes the reduced string `s` (names, overwritten: it becomes the rank array) and writes its
 * suffix array to `sa`, which must be 8-byte aligned with m more slots free after it: the first
 * sort runs there as 64-bit keys (name, position), natively and in place, a cache-friendlier pass
 * than counting into as many buckets as names.
 */
export function sortByDoubling(s: Int32Array, sa: Int32Array, m: number): void {
  const first = new Uint32Array(sa.buffer, sa.byteOffset, 2 * m);
  for (let i = 0; i < m; i++) {
    first[2 * i] = i;
    first[2 * i + 1] = s[i]!;
  }
  new BigUint64Array(sa.buffer, sa.byteOffset, m).sort();
  // A suffix's rank is the last index of its group (Larsson-Sadakane). Slot q of sa is part of key
  // q / 2, which was read before; a run's names are read before its slots are written.
  const rank = s;
  for (let a = 0; a < m; ) {
    let b = a + 1;
    while (b < m && first[2 * b + 1] === first[2 * a + 1]) b++;
    for (let q = a; q < b; q++) {
      const p = first[2 * q]!;
      sa[q] = p;
      rank[p] = b - 1;
    }
    // A run of sorted suffixes is marked by its negated length at its start.
    if (b - a === 1) sa[a] = -1;
    a = b;
  }

  let keys = new BigUint64Array(0);
  let u32 = new Uint32Array(0);
  for (let h = 1; sa[0]! > -m; h *= 2) {
    let runStart = -1;
    for (let j = 0; j < m; ) {
      const v = sa[j]!;
      if (v < 0) {
        // Join consecutive sorted runs so later rounds skip them in one step.
        if (runStart >= 0) sa[runStart] = sa[runStart]! + v;
        else runStart = j;
        j -= v;
        continue;
      }
      runStart = -1;
      const end = rank[v]! + 1;
      const size = end - j;
      if (keys.length < size) {
        keys = new BigUint64Array(Math.max(size, 2 * keys.length));
        u32 = new Uint32Array(keys.buffer);
      }
      // Every key of the group is read before any of its ranks changes: a suffix h on can lie in
      // the same group. Key: rank h names on (0 past the end, which sorts first), then position.
      for (let q = j; q < end; q++) {
        const p = sa[q]!;
        u32[2 * (q - j)] = p;
        u32[2 * (q - j) + 1] = p + h < m ? rank[p + h]! + 1 : 0;
      }
      keys.subarray(0, size).sort();
      for (let a = 0; a < size; ) {
        let b = a + 1;
        while (b < size && u32[2 * b + 1] === u32[2 * a + 1]) b++;
        for (let q = a; q < b; q++) {
          sa[j + q] = u32[2 * q]!;
          rank[u32[2 * q]!] = j + b - 1;
        }
        if (b - a === 1) sa[j + a] = -1;
        a = b;
      }
      j = end;
    }
  }
  // Ranks are final positions.
  for (let i = 0; i < m; i++) sa[rank[i]!] = i;
}
