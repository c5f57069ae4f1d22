/**
 * Streams by id without a string per stream: an open-addressing table of 64-bit hashes of the ids,
 * in typed arrays, each slot holding a number of the caller's (the stream's first entry). A hash
 * only says where to look: a candidate is confirmed by the id its records carry (`idOf`), so two ids
 * with the same hash stay two streams. ~24 bytes per stream at most, none of them on the heap.
 */
export class StreamTable {
  private hi: Uint32Array;
  private lo: Uint32Array;
  /** The value of each slot plus one; 0: empty. */
  private values: Uint32Array;
  private count = 0;

  /** @param idOf the stream id of the stream holding this value, read from its records. */
  constructor(
    private readonly idOf: (value: number) => string,
    capacity = 1024,
  ) {
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.values = new Uint32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** The value of a stream, or undefined for a stream not in the table. */
  get(streamId: string): number | undefined {
    const known = this.recent.get(streamId);
    if (known !== undefined) return known;
    hash(streamId);
    const mask = this.values.length - 1;
    for (let slot = hashLo & mask; ; slot = (slot + 1) & mask) {
      const v = this.values[slot]!;
      if (v === 0) return undefined;
      if (this.hi[slot] === hashHi && this.lo[slot] === hashLo && this.idOf(v - 1) === streamId) {
        this.remember(streamId, v - 1);
        return v - 1;
      }
    }
  }

  /** The table's slots, copied: for a snapshot of the index (restore with StreamTable.restore). */
  state(): StreamTableState {
    return { hi: this.hi.slice(), lo: this.lo.slice(), values: this.values.slice(), count: this.count };
  }

  /** A table with the slots of `state()` (its arrays are taken, not copied). */
  static restore(idOf: (value: number) => string, state: StreamTableState): StreamTable {
    const n = state.values.length;
    if (n === 0 || (n & (n - 1)) !== 0 || state.hi.length !== n || state.lo.length !== n || !(state.count * 2 <= n)) {
      throw new Error(`stream table: ${n} slots for ${state.count} streams is not a table`);
    }
    const t = new StreamTable(idOf, 1);
    t.hi = state.hi;
    t.lo = state.lo;
    t.values = state.values;
    t.count = state.count;
    return t;
  }

  /** Adds a stream the table does not hold (the caller has looked). */
  add(streamId: string, value: number): void {
    if ((this.count + 1) * 2 > this.values.length) this.grow();
    hash(streamId);
    this.place(hashHi, hashLo, value + 1);
    this.count++;
    this.remember(streamId, value);
  }

  /**
   * Streams met lately, by id, so that the streams a process keeps appending to are not confirmed
   * against their records at every event: a few thousand strings, forgotten all at once when full.
   */
  private readonly recent = new Map<string, number>();
  private remember(streamId: string, value: number): void {
    if (this.recent.size >= RECENT) this.recent.clear();
    this.recent.set(streamId, value);
  }

  private place(hi: number, lo: number, stored: number): void {
    const mask = this.values.length - 1;
    let slot = lo & mask;
    while (this.values[slot] !== 0) slot = (slot + 1) & mask;
    this.hi[slot] = hi;
    this.lo[slot] = lo;
    this.values[slot] = stored;
  }

  private grow(): void {
    const { hi, lo, values } = this;
    this.hi = new Uint32Array(values.length * 2);
    this.lo = new Uint32Array(values.length * 2);
    this.values = new Uint32Array(values.length * 2);
    for (let i = 0; i < values.length; i++) if (values[i] !== 0) this.place(hi[i]!, lo[i]!, values[i]!);
  }
}

const RECENT = 4096;

export type StreamTableState = { hi: Uint32Array; lo: Uint32Array; values: Uint32Array; count: number };

// The last id's hash, in two halves (no allocation per lookup).
let hashHi = 0;
let hashLo = 0;

/** Two 32-bit FNV-1a style hashes of the id's UTF-16 code units, with different primes and seeds. */
function hash(s: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // Final mixing, so that the low bits (the slot) depend on every character.
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  hashHi = b >>> 0;
  hashLo = a >>> 0;
}
