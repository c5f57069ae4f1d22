import { atPosition, Column, decodeEnvelopeFast, EnvelopeView, equalBytes, GENESIS_HASH, readEnvelopeView, type SealedEvent, type StoredEvent } from '@opal/event-log';
import { RecordArena, type RecordArenaOptions } from './record-arena.js';
import { StreamTable } from './stream-table.js';

type PartitionLog = {
  /** Number of this partition in `keys`. */
  readonly id: number;
  /** Next offset this index has not read yet. */
  next: number;
  /** Accepted events (entry numbers) in offset order. */
  readonly entries: Column<Uint32Array>;
  /** Offsets of losers of a version race (rare), kept so an appender can learn it lost. */
  readonly rejected: Set<number>;
};

/** A stream's accepted events: its only entry, or its entries in sequence order. */
type StreamEntries = number | number[];

/**
 * What one process knows of the log: every accepted event of every partition it has read from
 * offset zero, by partition and by stream, with each stream's head. Kafka cannot fetch one stream's
 * records by key, so the records themselves are kept, as bytes: copied into a RecordArena and
 * decoded when read (the envelope's header is read in place to judge a record). A process holding a
 * long log then holds a few tens of bytes per event in typed arrays (64 measured at 1,000,000 events)
 * and next to nothing on the heap, plus the records' bytes: the newest in memory, up to the arena's
 * `memoryBytes`, and the rest in a file of the process.
 */
export class LogIndex {
  private readonly partitions = new Map<string, PartitionLog>();
  private readonly keys: string[] = [];
  /** Each stream's first entry, by id (no string kept per stream); */
  private readonly streams = new StreamTable((first) => this.streamIdOf(lastOf(this.longer.get(first) ?? first)));
  /** and the entries of streams of more than one event, in sequence order, by first entry. */
  private readonly longer = new Map<number, number[]>();
  private readonly arena: RecordArena;
  // One row per accepted event ("entry"): where its bytes are, and its place in the log.
  private readonly chunkOf = new Column((n) => new Uint32Array(n));
  private readonly startOf = new Column((n) => new Uint32Array(n));
  private readonly lengthOf = new Column((n) => new Uint32Array(n));
  private readonly partitionOf = new Column((n) => new Uint32Array(n));
  private readonly offsetOf = new Column((n) => new Float64Array(n));
  /** Where the event's hash lies in its record (HASH_ELSEWHERE: not 32 bytes, read the envelope). */
  private readonly hashAt = new Column((n) => new Uint32Array(n));
  private readonly record = new EnvelopeView();
  private readonly headView = new EnvelopeView();
  private readonly idView = new EnvelopeView();

  constructor(records: RecordArenaOptions = {}) {
    this.arena = new RecordArena(records);
  }

  private partition(key: string): PartitionLog {
    let p = this.partitions.get(key);
    if (!p) {
      p = { id: this.keys.push(key) - 1, next: 0, entries: new Column((n) => new Uint32Array(n)), rejected: new Set() };
      this.partitions.set(key, p);
    }
    return p;
  }

  /**
   * Reads one record of partition `key` (its cursorKey) and returns the stream it names; records
   * below the partition's next offset were seen already and are ignored (undefined).
   */
  ingest(key: string, offset: number, value: Uint8Array): string | undefined {
    const p = this.partition(key);
    if (offset < p.next) return undefined;
    p.next = offset + 1;
    return this.addRecord(p, offset, value);
  }

  /**
   * Takes records this process has just written when they are the next ones of their partition
   * (nothing unread lies before them); the reader skips them when it gets there. Returns them as
   * stored, or undefined (leaving them to the reader) otherwise.
   */
  ingestWritten(key: string, first: number, events: readonly SealedEvent[]): StoredEvent[] | undefined {
    const p = this.partition(key);
    if (p.next !== first) return undefined;
    const out: StoredEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const offset = first + i;
      const { event, bytes } = events[i]!;
      p.next = offset + 1;
      // Sealed here, so its header is known without reading the bytes; the hash is the envelope's
      // last field (sealBatch), which the check below confirms.
      const tail = bytes.byteLength - HASH_BYTES;
      const hashAt = event.hash.byteLength === HASH_BYTES && tail >= 0 && equalBytes(bytes.subarray(tail), event.hash) ? tail : HASH_ELSEWHERE;
      this.add(p, offset, asBuffer(bytes), event.streamId, event.streamSeq, event.prevHash, hashAt);
      out.push(atPosition(event, { partition: key, offset }));
    }
    return out;
  }

  /** Reads a record's header in place and judges it (see add); returns its stream id. */
  private addRecord(p: PartitionLog, offset: number, value: Uint8Array): string {
    const buf = asBuffer(value);
    const v = readEnvelopeView(buf, 0, buf.length, this.record);
    const prev = v.prevHashEnd > v.prevHashStart ? buf.subarray(v.prevHashStart, v.prevHashEnd) : EMPTY;
    this.add(p, offset, buf, v.streamId, v.streamSeq, prev, v.hashEnd - v.hashStart === HASH_BYTES ? v.hashStart : HASH_ELSEWHERE);
    return v.streamId;
  }

  /**
   * Judges the record at `offset`: it belongs to its stream only if it extends the stream's chain
   * (sequence head + 1, previous hash = the head's hash), the first in partition order winning a
   * race; a loser is remembered by offset. An accepted record's bytes are kept; `hashAt` is where
   * its 32-byte hash lies in them (HASH_ELSEWHERE: read the envelope to find it).
   */
  private add(p: PartitionLog, offset: number, buf: Buffer, streamId: string, streamSeq: number, prev: Uint8Array, hashAt: number): void {
    const entries = this.entriesOf(streamId);
    const count = entries === undefined ? 0 : typeof entries === 'number' ? 1 : entries.length;
    const chained = count === 0 ? equalBytes(prev, GENESIS_HASH) : equalBytes(prev, this.hashOf(lastOf(entries!)));
    if (streamSeq !== count + 1 || !chained) {
      p.rejected.add(offset);
      return;
    }
    const at = this.arena.add(buf);
    const entry = this.chunkOf.push(at.chunk);
    this.startOf.push(at.start);
    this.lengthOf.push(buf.length);
    this.partitionOf.push(p.id);
    this.offsetOf.push(offset);
    this.hashAt.push(hashAt);
    p.entries.push(entry);
    if (entries === undefined) this.streams.add(streamId, entry);
    else if (typeof entries === 'number') this.longer.set(entries, [entries, entry]);
    else entries.push(entry);
  }

  private entriesOf(streamId: string): StreamEntries | undefined {
    const first = this.streams.get(streamId);
    return first === undefined ? undefined : (this.longer.get(first) ?? first);
  }

  /** The stream id an entry's record carries. */
  private streamIdOf(entry: number): string {
    const length = this.lengthOf.get(entry);
    return readEnvelopeView(this.arena.read(this.chunkOf.get(entry), this.startOf.get(entry), length), 0, length, this.idView).streamId;
  }

  /** The hash of an entry's event: in place in its bytes while they are in memory. */
  private hashOf(entry: number): Uint8Array {
    const chunk = this.chunkOf.get(entry);
    const start = this.startOf.get(entry);
    const at = this.hashAt.get(entry);
    if (at !== HASH_ELSEWHERE) return this.arena.read(chunk, start + at, HASH_BYTES);
    const length = this.lengthOf.get(entry);
    const bytes = this.arena.read(chunk, start, length);
    const v = readEnvelopeView(bytes, 0, length, this.headView);
    return v.hashEnd > v.hashStart ? bytes.subarray(v.hashStart, v.hashEnd) : EMPTY;
  }

  private decode(entry: number): StoredEvent {
    const length = this.lengthOf.get(entry);
    const bytes = this.arena.read(this.chunkOf.get(entry), this.startOf.get(entry), length);
    const position = { partition: this.keys[this.partitionOf.get(entry)]!, offset: this.offsetOf.get(entry) };
    return decodeEnvelopeFast(bytes, 0, length, position);
  }

  next(key: string): number {
    return this.partitions.get(key)?.next ?? 0;
  }

  /** Moves a partition's next offset over records that hold no event (never below what was read). */
  advance(key: string, next: number): void {
    const p = this.partition(key);
    if (next > p.next) p.next = next;
  }

  wasRejected(key: string, offset: number): boolean {
    return this.partitions.get(key)?.rejected.has(offset) ?? false;
  }

  /** A stream's events from sequence `fromSeq` (1-based), at most `limit`, decoded. */
  stream(streamId: string, fromSeq = 1, limit = Infinity): StoredEvent[] {
    const entries = this.entriesOf(streamId);
    if (entries === undefined || limit <= 0) return [];
    if (typeof entries === 'number') return fromSeq <= 1 ? [this.decode(entries)] : [];
    const out: StoredEvent[] = [];
    for (let i = Math.max(0, fromSeq - 1); i < entries.length && out.length < limit; i++) out.push(this.decode(entries[i]!));
    return out;
  }

  head(streamId: string): { seq: number; hash: Uint8Array } | undefined {
    const entries = this.entriesOf(streamId);
    if (entries === undefined) return undefined;
    return { seq: typeof entries === 'number' ? 1 : entries.length, hash: this.hashOf(lastOf(entries)) };
  }

  /** Accepted events of one partition from offset `from`, at most `limit`. */
  eventsFrom(key: string, from: number, limit: number): StoredEvent[] {
    const entries = this.partitions.get(key)?.entries;
    if (!entries || limit <= 0) return [];
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsetOf.get(entries.get(mid)) < from) lo = mid + 1;
      else hi = mid;
    }
    const out: StoredEvent[] = [];
    for (let i = lo; i < entries.length && out.length < limit; i++) out.push(this.decode(entries.get(i)));
    return out;
  }

  stats(): { events: number; streams: number; bytes: number } {
    return { events: this.offsetOf.length, streams: this.streams.size, bytes: this.arena.bytes };
  }

  /** Bytes of records in memory and on disk. */
  placement(): { memory: number; file: number } {
    return this.arena.placement;
  }

  close(): void {
    this.arena.close();
  }
}

const EMPTY = new Uint8Array(0);
const HASH_BYTES = 32;
const HASH_ELSEWHERE = 0xffffffff;
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const lastOf = (entries: StreamEntries): number => (typeof entries === 'number' ? entries : entries[entries.length - 1]!);
