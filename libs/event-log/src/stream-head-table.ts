/** Bytes of an event hash (SHA-256). */
export const HASH_BYTES = 32;
/** Streams per map of ids: a Map holds at most 2^24 entries, so the ids go into several. */
const IDS_PER_MAP = 1 << 23;

/**
 * Streams by id, each with a number (its slot), its version and its last hash, in typed arrays
 * rather than an object and a hash array per stream: the stream id and its map entry are all a
 * stream costs on the heap (about 70 bytes for an inference's), plus 36 bytes in the arrays. The
 * embedded log's index and Kafka subscriptions' stream heads keep their streams here.
 */
export class StreamHeadTable {
  private readonly ids: Map<string, number>[] = [new Map()];
  private versions = new Uint32Array(256);
  private hashes = new Uint8Array(256 * HASH_BYTES);
  private count = 0;

  /** @param idsPerMap stream ids per map before another is started (tests set fewer). */
  constructor(private readonly idsPerMap = IDS_PER_MAP) {}

  get size(): number {
    return this.count;
  }

  /** Slots so far allocated: arrays kept per slot beside this table grow to it. */
  get capacity(): number {
    return this.versions.length;
  }

  /** The stream's slot, or undefined for a stream not in the table. */
  slotOf(streamId: string): number | undefined {
    const ids = this.ids;
    for (let i = ids.length - 1; i >= 0; i--) {
      const s = ids[i]!.get(streamId);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  /** Adds a stream the table does not hold (the caller has looked it up): version 0, no hash. */
  add(streamId: string): number {
    const s = this.count;
    if (s === this.versions.length) {
      const versions = new Uint32Array(s * 2);
      versions.set(this.versions);
      this.versions = versions;
      const hashes = new Uint8Array(s * 2 * HASH_BYTES);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
    let ids = this.ids[this.ids.length - 1]!;
    if (ids.size >= this.idsPerMap) this.ids.push((ids = new Map()));
    ids.set(streamId, s);
    this.versions[s] = 0;
    this.hashes.fill(0, s * HASH_BYTES, (s + 1) * HASH_BYTES);
    this.count++;
    return s;
  }

  version(slot: number): number {
    return this.versions[slot]!;
  }

  /** A copy of the stream's last hash. */
  hash(slot: number): Uint8Array {
    return this.hashes.slice(slot * HASH_BYTES, (slot + 1) * HASH_BYTES);
  }

  /** Whether `bytes` are the stream's last hash (all zeros while the stream has no event). */
  hashEquals(slot: number, bytes: Uint8Array): boolean {
    if (bytes.length !== HASH_BYTES) return false;
    const hashes = this.hashes;
    const at = slot * HASH_BYTES;
    for (let i = 0; i < HASH_BYTES; i++) if (hashes[at + i] !== bytes[i]) return false;
    return true;
  }

  /** Sets the stream's version and last hash (HASH_BYTES of `hash` from `start`). */
  set(slot: number, version: number, hash: Uint8Array, start = 0): void {
    if (hash.length - start < HASH_BYTES) throw new Error(`stream head: a hash of ${hash.length - start} bytes, not ${HASH_BYTES}`);
    this.versions[slot] = version;
    this.hashes.set(hash.subarray(start, start + HASH_BYTES), slot * HASH_BYTES);
  }

  /** Forgets every stream. */
  clear(): void {
    this.ids.length = 0;
    this.ids.push(new Map());
    this.versions = new Uint32Array(256);
    this.hashes = new Uint8Array(256 * HASH_BYTES);
    this.count = 0;
  }
}
