/**
 * The LSH buckets of a near-duplicate index: for each band, the slots whose signatures have the same
 * key in that band. Typed arrays, not a Map of arrays: the Map held ~2.9 KB per contribution on the
 * heap and stopped at 2^24 keys, so a Datanet of about 524,000 contributions of distinct content (32
 * keys each) could no longer be loaded or take another contribution.
 *
 * Entries are numbered `slot * bands + band`. An open-addressing table holds each key's latest
 * entry (a key is matched together with its band, which the entry's number gives), and `previous`
 * chains the entries of one key, latest first. ~0.6 KB per contribution outside the heap.
 */
export class BandBuckets {
  private keys = new Uint32Array(INITIAL_KEYS);
  /** Latest entry of the key in each table slot, plus one; 0: an empty slot. */
  private heads = new Int32Array(INITIAL_KEYS);
  private used = 0;
  /** Per entry, the entry before it with the same band and key; -1: none. */
  private previous = new Int32Array(INITIAL_KEYS);

  constructor(private readonly bands: number) {}

  /** Puts `slot` in the bucket of `key` in `band`. Slots are added in increasing order, each band once. */
  add(slot: number, band: number, key: number): void {
    const entry = slot * this.bands + band;
    if (entry >= MAX_ENTRIES) throw new RangeError(`near-duplicate index: more than ${Math.floor(MAX_ENTRIES / this.bands)} contributions`);
    if (entry >= this.previous.length) this.previous = grown(this.previous, entry + 1);
    const at = this.find(band, key);
    if (this.heads[at] !== 0) {
      this.previous[entry] = this.heads[at]! - 1;
      this.heads[at] = entry + 1;
      return;
    }
    this.previous[entry] = -1;
    this.keys[at] = key;
    this.heads[at] = entry + 1;
    if (++this.used * 4 > this.heads.length * 3) this.rehash();
  }

  /** Bytes of its arrays. */
  bytes(): number {
    return this.keys.byteLength + this.heads.byteLength + this.previous.byteLength;
  }

  /** The latest entry in the bucket of `key` in `band`, or -1; the slot of an entry is `slotOf(entry)`. */
  first(band: number, key: number): number {
    return this.heads[this.find(band, key)]! - 1;
  }

  /** The entry before this one in its bucket, or -1. */
  next(entry: number): number {
    return this.previous[entry]!;
  }

  slotOf(entry: number): number {
    return Math.floor(entry / this.bands);
  }

  /** The table slot holding `key` of `band`, or the empty slot where it would go. */
  private find(band: number, key: number): number {
    const mask = this.heads.length - 1;
    for (let at = key & mask; ; at = (at + 1) & mask) {
      const head = this.heads[at]!;
      if (head === 0 || (this.keys[at] === key && (head - 1) % this.bands === band)) return at;
    }
  }

  private rehash(): void {
    const keys = this.keys;
    const heads = this.heads;
    this.keys = new Uint32Array(keys.length * 2);
    this.heads = new Int32Array(heads.length * 2);
    const mask = this.heads.length - 1;
    for (let i = 0; i < heads.length; i++) {
      if (heads[i] === 0) continue;
      let at = keys[i]! & mask;
      while (this.heads[at] !== 0) at = (at + 1) & mask;
      this.keys[at] = keys[i]!;
      this.heads[at] = heads[i]!;
    }
  }
}

const INITIAL_KEYS = 1024;
/** Entries are numbered in an Int32Array (plus one in the table). */
const MAX_ENTRIES = 2 ** 31 - 2;

function grown(a: Int32Array, atLeast: number): Int32Array<ArrayBuffer> {
  let n = a.length * 2;
  while (n < atLeast) n *= 2;
  const out = new Int32Array(Math.min(n, MAX_ENTRIES));
  out.set(a);
  return out;
}
