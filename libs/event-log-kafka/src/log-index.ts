import { atPosition, Column, streamPrefix, decodeEnvelopeFast, EnvelopeView, equalBytes, GENESIS_HASH, readEnvelopeView, type SealedEvent, type StoredEvent } from '@opal/event-log';
import type { IndexImage, LoadedImage } from './index-snapshot.js';
import type { RecordArena } from './record-arena.js';
import { StreamTable } from './stream-table.js';

/** What of an index a snapshot holds besides where its records lie (IndexKeeper adds that). */
export type IndexState = Omit<IndexImage, 'topics' | 'chunkBytes' | 'layout'>;

type PartitionLog = {
  /** Number of this partition in `keys`. */
  readonly id: number;
  /** Next offset this index has not read yet. */
  next: number;
  /** Accepted events (entry numbers) in offset order. */
  readonly entries: Column<Uint32Array>;
  /** Offsets of losers of a version race (rare), kept so an appender can learn it lost. */
  readonly rejected: Set<number>;
  /**
   * Loaded from a snapshot and not yet confirmed: the offset of the partition's last accepted event,
   * whose record in Kafka must be the one the snapshot holds before anything of the partition counts.
   */
  check?: { offset: number; entry: number };
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
  private partitions = new Map<string, PartitionLog>();
  private keys: string[] = [];
  /** Each stream's first entry, by id (no string kept per stream); */
  private streams = new StreamTable((first) => this.streamIdOf(lastOf(this.longer.get(first) ?? first)));
  /** and the entries of streams of more than one event, in sequence order, by first entry. */
  private longer = new Map<number, number[]>();
  // One row per accepted event ("entry"): where its bytes are, and its place in the log.
  private chunkOf = new Column((n) => new Uint32Array(n));
  private startOf = new Column((n) => new Uint32Array(n));
  private lengthOf = new Column((n) => new Uint32Array(n));
  private partitionOf = new Column((n) => new Uint32Array(n));
  private offsetOf = new Column((n) => new Float64Array(n));
  /** Where the event's hash lies in its record (HASH_ELSEWHERE: not 32 bytes, read the envelope). */
  private hashAt = new Column((n) => new Uint32Array(n));
  private readonly record = new EnvelopeView();
  private readonly headView = new EnvelopeView();
  private readonly idView = new EnvelopeView();
  /** Partitions whose snapshot is not confirmed yet (see PartitionLog.check). */
  private checks = 0;
  /** Events loaded from a snapshot at start. */
  private restoredEvents = 0;
  /** A stream of each kind met in each topic (see notePlacement), by topic and prefix. */
  private placements = new Map<string, string>();
  /** Told when reset() empties the index (its keeper drops the snapshot). */
  onReset: (() => void) | undefined;

  /** An index on `arena`'s records: empty, or what `image` (a snapshot, on those records) holds. */
  constructor(
    private readonly arena: RecordArena,
    image?: LoadedImage,
  ) {
    if (image) this.load(image);
  }

  /** Takes a snapshot's rows, partitions and streams; each partition's last event is confirmed later (check). */
  private load(image: LoadedImage): void {
    this.chunkOf = Column.from((n) => new Uint32Array(n), image.chunkOf);
    this.startOf = Column.from((n) => new Uint32Array(n), image.startOf);
    this.lengthOf = Column.from((n) => new Uint32Array(n), image.lengthOf);
    this.partitionOf = Column.from((n) => new Uint32Array(n), image.partitionOf);
    this.hashAt = Column.from((n) => new Uint32Array(n), image.hashAt);
    this.offsetOf = Column.from((n) => new Float64Array(n), image.offsetOf);
    for (const saved of image.partitions) {
      const p = this.partition(saved.key);
      const entries = saved.entries;
      if (entries.length === 0) continue; // nothing of it to confirm: read again from offset zero
      p.next = saved.next;
      for (const o of saved.rejected) p.rejected.add(o);
      (p as { entries: Column<Uint32Array> }).entries = Column.from((n) => new Uint32Array(n), entries);
      p.check = { offset: this.offsetOf.get(entries[entries.length - 1]!), entry: entries[entries.length - 1]! };
      this.checks++;
    }
    this.streams = StreamTable.restore((first) => this.streamIdOf(lastOf(this.longer.get(first) ?? first)), image.table);
    for (let i = 0; i < image.longer.length; ) {
      const first = image.longer[i]!;
      const count = image.longer[i + 1]!;
      this.longer.set(first, Array.from(image.longer.subarray(i + 2, i + 2 + count)));
      i += 2 + count;
    }
    for (const [topic, streamId] of image.placements) this.notePlacement(topic, streamPrefix(streamId), streamId);
    this.restoredEvents = image.events;
  }

  /**
   * Remembers that a stream of `streamId`'s kind lies in `topic` (the reader notes the first of each
   * kind per topic), so that a process started on the snapshot checks where the kinds it holds lie
   * as one reading the log whole would (TailReader's placement check).
   */
  notePlacement(topic: string, prefix: string, streamId: string): void {
    this.placements.set(`${topic}\n${prefix}`, streamId);
  }

  /** The streams noted by notePlacement, with their topics. */
  notedPlacements(): [topic: string, streamId: string][] {
    return [...this.placements].map(([k, streamId]) => [k.slice(0, k.indexOf('\n')), streamId]);
  }

  /** Empties the index (the arena aside). */
  private clear(): void {
    this.partitions = new Map();
    this.keys = [];
    this.streams = new StreamTable((first) => this.streamIdOf(lastOf(this.longer.get(first) ?? first)));
    this.longer = new Map();
    this.chunkOf = new Column((n) => new Uint32Array(n));
    this.startOf = new Column((n) => new Uint32Array(n));
    this.lengthOf = new Column((n) => new Uint32Array(n));
    this.partitionOf = new Column((n) => new Uint32Array(n));
    this.offsetOf = new Column((n) => new Float64Array(n));
    this.hashAt = new Column((n) => new Uint32Array(n));
    this.placements = new Map();
    this.checks = 0;
    this.restoredEvents = 0;
  }

  /**
   * Forgets everything (its keeper, told through onReset, drops the snapshot too): the log in Kafka
   * is not the one it was taken of (a topic deleted and made again, another cluster at the same
   * address). The reader reads from offset zero.
   */
  reset(): void {
    this.clear();
    this.arena.reset();
    this.onReset?.();
  }

  /** Whether some partition still waits for its snapshot to be confirmed. */
  get confirming(): boolean {
    return this.checks > 0;
  }

  /** Whether partition `key` still waits for its snapshot to be confirmed. */
  checking(key: string): boolean {
    return this.partitions.get(key)?.check !== undefined;
  }

  /**
   * Judges a record the reader met in a partition that waits for confirmation: 'before' the record
   * to confirm (nothing to do), 'confirmed' (the record is the one the snapshot holds: the partition's
   * index counts from now on), or 'diverged' (another record there, or none: reset() is due).
   */
  confirm(key: string, offset: number, value: Uint8Array | null): 'before' | 'confirmed' | 'diverged' {
    const p = this.partitions.get(key)!;
    const check = p.check!;
    if (offset < check.offset) return 'before';
    if (offset > check.offset || !value) return 'diverged';
    const length = this.lengthOf.get(check.entry);
    if (value.byteLength !== length || !asBuffer(value).equals(this.arena.read(this.chunkOf.get(check.entry), this.startOf.get(check.entry), length))) return 'diverged';
    p.check = undefined;
    this.checks--;
    return 'confirmed';
  }

  /** Whether a partition that ends at `end` in Kafka can be the one this index read (false: reset() is due). */
  endFits(key: string, end: number): boolean {
    const p = this.partitions.get(key);
    return !p || p.next <= end;
  }

  /** Events this index loaded from its snapshot at start (0: none, or it was not this log's). */
  get restored(): number {
    return this.restoredEvents;
  }

  /**
   * What the index holds now, for a snapshot: views of its rows (never changed once written, so
   * they may be written out after this returns) and copies of what does change.
   */
  state(): IndexState {
    return {
      partitions: this.keys.map((key) => {
        const p = this.partitions.get(key)!;
        return { key, next: p.next, rejected: [...p.rejected], entries: p.entries.views() };
      }),
      events: this.offsetOf.length,
      chunkOf: this.chunkOf.views(),
      startOf: this.startOf.views(),
      lengthOf: this.lengthOf.views(),
      partitionOf: this.partitionOf.views(),
      hashAt: this.hashAt.views(),
      offsetOf: this.offsetOf.views(),
      table: this.streams.state(),
      longer: this.flatLonger(),
      placements: this.notedPlacements(),
    };
  }

  private flatLonger(): Uint32Array {
    let size = 0;
    for (const list of this.longer.values()) size += 2 + list.length;
    const out = new Uint32Array(size);
    let i = 0;
    for (const [first, list] of this.longer) {
      out[i++] = first;
      out[i++] = list.length;
      for (const e of list) out[i++] = e;
    }
    return out;
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
    if (p.next !== first || p.check !== undefined) return undefined;
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

  /** The next offset of partition `key` the index needs; while its snapshot waits for confirmation, the record to confirm. */
  next(key: string): number {
    const p = this.partitions.get(key);
    return p === undefined ? 0 : (p.check?.offset ?? p.next);
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
/** A Buffer view of bytes, without copying them. */
export const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const lastOf = (entries: StreamEntries): number => (typeof entries === 'number' ? entries : entries[entries.length - 1]!);
