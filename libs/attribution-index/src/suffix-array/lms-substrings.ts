/**
 * SA-IS stage 1 without induction: sorts and names the LMS substrings by their characters directly.
 *
 * Induction touches every suffix twice at a random position. Over a large alphabet LMS substrings
 * are short (about four characters in word-token text), so the same order comes cheaper from keys
 * read in text order: the LMS positions are bucketed by their first character, each bucket is
 * sorted natively as 64-bit keys (the next two characters with their types, then the position), and
 * only groups still tied after those are keyed again from the next characters.
 *
 * Characters are compared with their L/S type (L before S at the same character), which is the
 * order SA-IS defines for LMS substrings: two substrings that agree on every character and type up
 * to where one ends end at the same place, so no substring is a proper prefix of another. The
 * virtual sentinel after the text ranks below every character.
 *
 * Takes the text with S types marked in the sign bit (see sais.ts). On success leaves the LMS
 * positions in LMS-substring order in sa[0, n1), the name of position p in sa[n1 + (p >> 1)] (other
 * slots of sa[n1, n) are -1) and returns n1 and the count of names; returns undefined when the
 * buffer is not 8-byte aligned (the caller then induces as usual). `scratch` (k slots, the caller's
 * bucket array, unused until stage 3) holds the bucket bounds.
 */
export function sortLmsSubstrings(t: Int32Array, sa: Int32Array, n: number, k: number, scratch: Int32Array, maxItemsPerKey = 2): { n1: number; names: number } | undefined {
  const posBits = Math.max(1, 32 - Math.clz32(n - 1));
  // Items are 2c + type + 1 (L = 0, S = 1), the sentinel 0: at most 2k.
  const itemBits = 32 - Math.clz32(2 * k);
  // Two items a key where they fit beside the position (token ids below 2^16 up to 2^30 positions),
  // else one (reduced problems, whose alphabet is their count of names).
  const perKey = 2 * itemBits + posBits <= 64 ? Math.min(2, maxItemsPerKey) : 1;
  if (sa.byteOffset % 8 !== 0) return undefined;

  // LMS positions per first character, then their bucket starts.
  const next = scratch.subarray(0, k).fill(0);
  let n1 = 0;
  for (let i = 1; i < n; i++) {
    const c = t[i]!;
    if (c < 0 && t[i - 1]! >= 0) {
      next[c & CHAR]++;
      n1++;
    }
  }
  if (n1 === 0) return { n1: 0, names: 0 };
  for (let c = 0, sum = 0; c < k; c++) {
    const m = next[c]!;
    next[c] = sum;
    sum += m;
  }

  const keys = new Keys(t, sa, n, n1, posBits, itemBits, perKey);
  // Scatter in text order: the characters after each LMS position are read sequentially.
  for (let i = 1; i < n; i++) {
    const c = t[i]!;
    if (c < 0 && t[i - 1]! >= 0) keys.set(next[c & CHAR]++, i, 1, true);
  }

  // Keys fill sa[0, 2 n1); the marks of name starts go after them when there is room.
  const free = (n - 2 * n1) * 4;
  const newName = free >= n1 ? new Uint8Array(sa.buffer, sa.byteOffset + 8 * n1, n1).fill(0) : new Uint8Array(n1);
  // Sort every bucket; a run of equal keys whose substrings go on past them is keyed again from
  // the characters that follow, with an explicit stack (a long repeated run could be deep).
  const stack: number[] = [];
  for (let c = 0, from = 0; c < k; c++) {
    const to = next[c]!;
    if (to - from > 0) stack.push(from, to, 1, 1);
    while (stack.length > 0) {
      const prevS = stack.pop() === 1;
      const depth = stack.pop()!;
      const b = stack.pop()!;
      const a = stack.pop()!;
      if (depth > 1) for (let j = a; j < b; j++) keys.set(j, keys.position(j), depth, prevS);
      keys.sort(a, b);
      for (let r = a; r < b; ) {
        let e = r + 1;
        while (e < b && keys.sameKey(r, e)) e++;
        if (e - r === 1 || keys.ends(r, prevS)) newName[r] = 1;
        else stack.push(r, e, depth + perKey, keys.lastIsS(r) ? 1 : 0);
        r = e;
      }
    }
    from = to;
  }

  // Positions to sa[0, n1) (slot i was read as part of key i / 2 before it is overwritten), a name
  // start marked in the sign bit; then the names.
  for (let i = 0; i < n1; i++) sa[i] = keys.position(i) | (newName[i]! << 31);
  sa.fill(-1, n1, n);
  let names = 0;
  for (let i = 0; i < n1; i++) {
    const p = sa[i]!;
    names += p >>> 31;
    sa[i] = p & CHAR;
    sa[n1 + ((p & CHAR) >> 1)] = names - 1;
  }
  return { n1, names };
}

const CHAR = 0x7fffffff;

/**
 * 64-bit keys over the suffix array's memory, viewed as pairs of u32 (little-endian: low word
 * first): the items at `depth` and after, then the position in the low posBits bits. Read back
 * through the u32 view, so no BigInt is ever made; sorted as BigUint64 (native, no comparator).
 */
class Keys {
  private readonly u32: Uint32Array;
  private readonly u64: BigUint64Array;
  private readonly posMask: number;
  private readonly loItems: number;
  private readonly itemScale: number;
  private readonly posScale: number;

  constructor(
    private readonly t: Int32Array,
    sa: Int32Array,
    private readonly n: number,
    n1: number,
    private readonly posBits: number,
    itemBits: number,
    private readonly perKey: number,
  ) {
    this.u32 = new Uint32Array(sa.buffer, sa.byteOffset, 2 * n1);
    this.u64 = new BigUint64Array(sa.buffer, sa.byteOffset, n1);
    this.posMask = posBits === 31 ? 0x7fffffff : (1 << posBits) - 1;
    this.loItems = 2 ** (32 - posBits);
    this.itemScale = 2 ** itemBits;
    this.posScale = 2 ** posBits;
  }

  private item(q: number): number {
    if (q >= this.n) return 0;
    const c = this.t[q]!;
    return (c & CHAR) * 2 + (c >>> 31) + 1;
  }

  /**
   * Key of the substring at p from `depth` on. Items past its end are 0, so equal substrings get
   * equal keys: it ends at the sentinel, or at an S following an L (`prevS` is the type before depth).
   */
  set(slot: number, p: number, depth: number, prevS: boolean): void {
    const a = this.item(p + depth);
    let key = a;
    if (this.perKey === 2) {
      const endsAtA = a === 0 || (!prevS && (a & 1) === 0);
      key = a * this.itemScale + (endsAtA ? 0 : this.item(p + depth + 1));
    }
    this.u32[2 * slot] = (key % this.loItems) * this.posScale + p;
    this.u32[2 * slot + 1] = Math.floor(key / this.loItems);
  }

  position(slot: number): number {
    return this.u32[2 * slot]! & this.posMask;
  }

  sort(a: number, b: number): void {
    if (b - a > 1) this.u64.subarray(a, b).sort();
  }

  sameKey(i: number, j: number): boolean {
    return this.u32[2 * i + 1] === this.u32[2 * j + 1] && this.u32[2 * i]! >>> this.posBits === this.u32[2 * j]! >>> this.posBits;
  }

  /** The key's items without the position: the first in the high part when there are two. */
  private items(i: number): number {
    return this.u32[2 * i + 1]! * this.loItems + (this.u32[2 * i]! >>> this.posBits);
  }

  /** Whether the substring ends within this key (S is an even item above 0, the sentinel 0). */
  ends(i: number, prevS: boolean): boolean {
    const key = this.items(i);
    const a = this.perKey === 2 ? Math.floor(key / this.itemScale) : key;
    const aS = a > 0 && (a & 1) === 0;
    if (a === 0 || (!prevS && aS)) return true;
    if (this.perKey === 1) return false;
    const b = key % this.itemScale;
    return b === 0 || (!aS && (b & 1) === 0);
  }

  lastIsS(i: number): boolean {
    const key = this.items(i);
    const last = this.perKey === 2 ? key % this.itemScale : key;
    return last > 0 && (last & 1) === 0;
  }
}
