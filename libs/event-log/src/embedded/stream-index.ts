/** Bytes of an event hash (SHA-256). */
export const HASH_BYTES = 32;
/** Streams per map of ids: a Map holds at most 2^24 entries, so the ids go into several. */
const IDS_PER_MAP = 1 << 23;
const NONE = -1;

/**
 * The embedded log's index, in typed arrays rather than an object per stream: per record, its byte
 * offset in the file and the record before it in its stream; per stream, its version, its last
 * record and its last hash. Only the stream ids are strings, one map entry each. A stream of one
 * event (an inference's) costs about 125 bytes here (70 on the heap), against about 540 as an object
 * with its own hash array and list of records.
 *
 * A stream's records are found by walking back from its last record: reading a stream costs a step
 * per event read, and per event past the last one read.
 */
export class StreamIndex {
  private offsets = new Float64Array(1024);
  private previous = new Int32Array(1024);
  private recordCount = 0;

  private readonly ids: Map<string, number>[] = [new Map()];

  /** @param idsPerMap stream ids per map before another is started (tests set fewer). */
  constructor(private readonly idsPerMap = IDS_PER_MAP) {}
  private versions = new Uint32Array(256);
  private lasts = new Int32Array(256);
  private hashes = new Uint8Array(256 * HASH_BYTES);
  private streamCount = 0;

  get records(): number {
    return this.recordCount;
  }

  get streams(): number {
    return this.streamCount;
  }

  /** The byte offset of a record in the file. */
  offsetOf(record: number): number {
    return this.offsets[record]!;
  }

  /** The stream's number, or undefined for a stream with no event. */
  streamOf(streamId: string): number | undefined {
    const ids = this.ids;
    for (let i = ids.length - 1; i >= 0; i--) {
      const s = ids[i]!.get(streamId);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  /** Adds a stream (the caller has looked it up): version 0, no record yet. */
  addStream(streamId: string): number {
    const s = this.streamCount;
    if (s === this.versions.length) {
      this.versions = grown(this.versions, Uint32Array);
      this.lasts = grown(this.lasts, Int32Array);
      const hashes = new Uint8Array(this.hashes.length * 2);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
    let ids = this.ids[this.ids.length - 1]!;
    if (ids.size >= this.idsPerMap) this.ids.push((ids = new Map()));
    ids.set(streamId, s);
    this.lasts[s] = NONE;
    this.streamCount++;
    return s;
  }

  version(stream: number): number {
    return this.versions[stream]!;
  }

  /** A copy of the stream's last hash. */
  lastHash(stream: number): Uint8Array {
    return this.hashes.slice(stream * HASH_BYTES, (stream + 1) * HASH_BYTES);
  }

  /** Appends a record known by its offset only (a log opened to read, whose streams are not indexed). */
  pushOffset(offset: number): void {
    const r = this.recordCount;
    if (r === this.offsets.length) {
      this.offsets = grown(this.offsets, Float64Array);
      this.previous = grown(this.previous, Int32Array);
    }
    this.offsets[r] = offset;
    this.previous[r] = NONE;
    this.recordCount++;
  }

  /** Appends a record of the stream, at `offset` in the file, as the stream's event `version`, with its hash. */
  push(stream: number, offset: number, version: number, hash: Uint8Array, hashStart = 0): number {
    if (version !== this.versions[stream]! + 1) throw new Error(`stream index: event ${version} follows event ${this.versions[stream]}`);
    const r = this.recordCount;
    if (r === this.offsets.length) {
      this.offsets = grown(this.offsets, Float64Array);
      this.previous = grown(this.previous, Int32Array);
    }
    this.offsets[r] = offset;
    this.previous[r] = this.lasts[stream]!;
    this.lasts[stream] = r;
    this.versions[stream] = version;
    this.hashes.set(hash.subarray(hashStart, hashStart + HASH_BYTES), stream * HASH_BYTES);
    this.recordCount++;
    return r;
  }

  /** The records of the stream's events `fromSeq` on, at most `limit` of them, in order. */
  recordsOf(stream: number, fromSeq: number, limit: number): number[] {
    const version = this.versions[stream]!;
    const first = Math.max(1, fromSeq);
    if (first > version || limit <= 0) return [];
    const count = Math.min(version - first + 1, limit);
    let r = this.lasts[stream]!;
    for (let seq = version; seq > first + count - 1; seq--) r = this.previous[r]!;
    const out = new Array<number>(count);
    for (let k = count - 1; k >= 0; k--) {
      out[k] = r;
      r = this.previous[r]!;
    }
    return out;
  }
}

function grown<T extends Float64Array | Int32Array | Uint32Array>(a: T, Kind: new (n: number) => T): T {
  const b = new Kind(a.length * 2);
  b.set(a);
  return b;
}
