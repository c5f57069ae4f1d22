import { Column } from '../column.js';
import { StreamHeadTable } from '../stream-head-table.js';

const NONE = -1;

/**
 * The embedded log's index, in typed arrays rather than an object per stream: per record, its byte
 * offset in the file and the record before it in its stream; per stream (a StreamHeadTable), its
 * version, its last hash and its last record. A stream of one event (an inference's) costs about
 * 125 bytes here (70 on the heap), against about 540 as an object with its own hash array and list
 * of records.
 *
 * A stream's records are found by walking back from its last record: reading a stream costs a step
 * per event read, and per event past the last one read.
 */
export class StreamIndex {
  private readonly offsets = new Column((n) => new Float64Array(n));
  /** The record before each in its stream, plus one (0: none). */
  private readonly previous = new Column((n) => new Uint32Array(n));
  private readonly heads: StreamHeadTable;
  private lasts = new Int32Array(256);

  /** @param idsPerMap see StreamHeadTable. */
  constructor(idsPerMap?: number) {
    this.heads = new StreamHeadTable(idsPerMap);
  }

  get records(): number {
    return this.offsets.length;
  }

  get streams(): number {
    return this.heads.size;
  }

  /** The byte offset of a record in the file. */
  offsetOf(record: number): number {
    return this.offsets.get(record);
  }

  /** The stream's number, or undefined for a stream with no event. */
  streamOf(streamId: string): number | undefined {
    return this.heads.slotOf(streamId);
  }

  /** Adds a stream (the caller has looked it up): version 0, no record yet. */
  addStream(streamId: string): number {
    const s = this.heads.add(streamId);
    if (this.lasts.length < this.heads.capacity) this.lasts = grown(this.lasts, this.heads.capacity);
    this.lasts[s] = NONE;
    return s;
  }

  version(stream: number): number {
    return this.heads.version(stream);
  }

  /** A copy of the stream's last hash. */
  lastHash(stream: number): Uint8Array {
    return this.heads.hash(stream);
  }

  /** Appends a record known by its offset only (a log opened to read, whose streams are not indexed). */
  pushOffset(offset: number): void {
    this.pushRecord(offset, NONE);
  }

  /** Appends a record of the stream, at `offset` in the file, as the stream's event `version`, with its hash. */
  push(stream: number, offset: number, version: number, hash: Uint8Array, hashStart = 0): number {
    const before = this.heads.version(stream);
    if (version !== before + 1) throw new Error(`stream index: event ${version} follows event ${before}`);
    this.heads.set(stream, version, hash, hashStart);
    const r = this.pushRecord(offset, this.lasts[stream]!);
    this.lasts[stream] = r;
    return r;
  }

  private pushRecord(offset: number, previous: number): number {
    this.previous.push(previous + 1);
    return this.offsets.push(offset);
  }

  /** The records of the stream's events `fromSeq` on, at most `limit` of them, in order. */
  recordsOf(stream: number, fromSeq: number, limit: number): number[] {
    const version = this.heads.version(stream);
    const first = Math.max(1, fromSeq);
    if (first > version || limit <= 0) return [];
    const count = Math.min(version - first + 1, limit);
    let r = this.lasts[stream]!;
    for (let seq = version; seq > first + count - 1; seq--) r = this.previous.get(r) - 1;
    const out = new Array<number>(count);
    for (let k = count - 1; k >= 0; k--) {
      out[k] = r;
      r = this.previous.get(r) - 1;
    }
    return out;
  }
}

function grown(a: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}
