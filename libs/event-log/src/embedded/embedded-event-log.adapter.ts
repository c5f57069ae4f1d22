import { mkdirSync, openSync, closeSync, readSync, writeFileSync, renameSync, readFileSync, existsSync, fstatSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { atPosition, checkPayloads, defaultEventId, GENESIS_HASH, sealBatch, type NewEvent, type StoredEvent } from '../envelope.js';
import { EventLogError } from '../errors.js';
import { streamFilter, type AppendOptions, type Cursor, type EventLog, type EventLogStats, type ReadResult, type SubscribeOptions, type Subscription } from '../event-log.port.js';
import { EnvelopeView, readEnvelopeView } from '../envelope-decoder.js';
import { StreamIndex } from './stream-index.js';
import { HASH_BYTES } from '../stream-head-table.js';
import { GroupCommitFile } from './group-commit-file.js';
import { frameRecord, RECORD_HEADER, refuseDamage, scanLogFile, truncateTo } from './log-file.js';
import { PollingSubscription } from './polling-subscription.js';
import { activeTraceHeaders } from '../trace-context.js';

/** Recent appends whose trace context subscriptions in this process hand over (see `traces`). */
const TRACED_RECORDS = 65_536;
/** Bytes read at once at most when a stream's records lie next to each other. */
const STREAM_READ_BYTES = 64 << 10;

export const EMBEDDED_PARTITION = 'log';

export type EmbeddedEventLogOptions = {
  /** fsync after every group of appends (default true). Off only for throwaway benchmarks. */
  readonly fsync?: boolean;
  /** Open for reading only (export, replay): no appends, no stream index, a torn tail left alone. */
  readonly readOnly?: boolean;
};

/**
 * The default EventLog: one append-only file under `dir`, group commit with fdatasync (an append
 * resolves only once its bytes are on disk, so it survives kill -9 and power loss), an in-memory
 * index of record offsets and stream heads rebuilt at open.
 */
export class EmbeddedEventLog implements EventLog {
  /** Each record's byte offset (by global index) and each stream's head and records (none when read-only). */
  private readonly index = new StreamIndex();
  private durable = 0; // records durable (and readable)
  /**
   * The trace context of recent appends made in a traced span, by record index: this process's
   * subscriptions hand it over with the event, as Kafka's record headers do. Memory only, for the
   * last TRACED_RECORDS records; not part of the file.
   */
  private readonly traces = new Map<number, string>();
  private endOffset = 0;
  private readonly writer: GroupCommitFile | undefined;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  private readFd: number;

  private constructor(
    private readonly dir: string,
    private readonly path: string,
    private readonly handle: FileHandle | undefined,
    private readonly fsync: boolean,
  ) {
    this.readFd = openSync(path, 'r');
    this.writer =
      handle &&
      new GroupCommitFile(handle, fsync, (frames) => {
        this.durable += frames;
        for (const l of this.listeners) l();
      });
  }

  static async open(dir: string, options: EmbeddedEventLogOptions = {}): Promise<EmbeddedEventLog> {
    const path = join(dir, 'events.log');
    if (options.readOnly && !existsSync(path)) {
      // A reader (an export, a replay) pointed at the wrong folder: an empty log made here would
      // read as a log without events, and the export or digest of it as a true one.
      throw new EventLogError('FAILED_PRECONDITION', `event log ${path}: no such file, so there is no log here to read (is the data folder, --data-dir or OPAL_DATA_DIR, the one it was written in?); nothing was created`);
    }
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    if (!existsSync(path)) closeSync(openSync(path, 'a'));
    const handle = options.readOnly ? undefined : await open(path, 'a');
    const log = new EmbeddedEventLog(dir, path, handle, options.fsync ?? true);
    try {
      log.load(!options.readOnly);
    } catch (error) {
      await handle?.close();
      closeSync(log.readFd);
      throw error;
    }
    return log;
  }

  private load(repair: boolean): void {
    if (!repair) {
      // Read-only (export, replay): record offsets are enough; streams are not indexed.
      const result = scanLogFile(this.path, (_body, offset) => this.index.pushOffset(offset));
      refuseDamage(this.path, result, 'event log');
      this.durable = this.index.records;
      this.endOffset = result.validBytes;
      return;
    }
    const view = new EnvelopeView();
    const index = this.index;
    const result = scanLogFile(this.path, (body, offset) => {
      const e = readEnvelopeView(body, 0, body.length, view);
      const s = index.streamOf(e.streamId) ?? index.addStream(e.streamId);
      const where = `event log ${this.path}: record ${index.records} (byte ${offset})`;
      if (e.streamSeq !== index.version(s) + 1) {
        throw new EventLogError('FAILED_PRECONDITION', `${where} is event ${e.streamSeq} of stream ${e.streamId}, whose last event is ${index.version(s)} (opal log verify names what is wrong)`);
      }
      if (e.hashEnd - e.hashStart !== HASH_BYTES) {
        throw new EventLogError('FAILED_PRECONDITION', `${where}: its hash has ${e.hashEnd - e.hashStart} bytes, not ${HASH_BYTES} (opal log verify names what is wrong)`);
      }
      index.push(s, offset, e.streamSeq, body, e.hashStart);
    });
    refuseDamage(this.path, result, 'event log');
    if (result.validBytes < result.fileBytes) truncateTo(this.path, result.validBytes);
    this.durable = index.records;
    this.endOffset = result.validBytes;
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    if (this.closed || !this.handle) throw new EventLogError('CLOSED', 'event log is closed or read-only');
    if (!streamId) throw new EventLogError('INVALID_ARGUMENT', 'stream_id: must not be empty');
    checkPayloads(events);
    if (events.length === 0) return [];
    const index = this.index;
    const known = index.streamOf(streamId);
    const version = known === undefined ? 0 : index.version(known);
    const expected = options.expectedVersion;
    if (expected !== 'any') {
      const want = expected === 'no_stream' ? 0 : expected;
      if (want !== version) {
        throw new EventLogError('VERSION_CONFLICT', `stream ${streamId}: expected version ${want}, current version ${version}`);
      }
    }
    const sealed = sealBatch(streamId, options.producer, version + 1, known === undefined ? GENESIS_HASH : index.lastHash(known), events, (_e, seq) =>
      defaultEventId(streamId, seq),
    );
    // Reserve offsets now so the next append on this stream sees the new version at once.
    const stream = known ?? index.addStream(streamId);
    const frames: Buffer[] = [];
    const stored: StoredEvent[] = [];
    for (const { event: e, bytes } of sealed) {
      const frame = frameRecord(bytes);
      const record = index.push(stream, this.endOffset, e.streamSeq, e.hash);
      this.endOffset += frame.length;
      frames.push(frame);
      stored.push(atPosition(e, { partition: EMBEDDED_PARTITION, offset: record }));
    }
    const traceparent = activeTraceHeaders()?.traceparent;
    if (traceparent) this.traced(stored, traceparent);
    try {
      await this.writer!.append(frames);
    } catch (error) {
      // The in-memory index is now ahead of the file: refuse further writes rather than diverge.
      this.closed = true;
      throw new EventLogError('UNAVAILABLE', `event log write failed: ${String(error)}`);
    }
    return stored;
  }

  private traced(stored: readonly StoredEvent[], traceparent: string): void {
    for (const e of stored) this.traces.set(e.position.offset, traceparent);
    for (const oldest of this.traces.keys()) {
      if (this.traces.size <= TRACED_RECORDS) break;
      this.traces.delete(oldest);
    }
  }

  /** The events with the trace context of their append, where this process still holds one. */
  private withTraces(events: StoredEvent[]): StoredEvent[] {
    if (this.traces.size === 0) return events;
    return events.map((e) => {
      const traceparent = this.traces.get(e.position.offset);
      return traceparent ? { ...e, traceparent } : e;
    });
  }

  async streamVersion(streamId: string): Promise<number> {
    const s = this.index.streamOf(streamId);
    return s === undefined ? 0 : this.index.version(s);
  }

  async readStream(streamId: string, fromSeq = 1, limit = Infinity): Promise<StoredEvent[]> {
    const index = this.index;
    const s = index.streamOf(streamId);
    if (s === undefined) return [];
    const records = index.recordsOf(s, fromSeq, limit);
    const out: StoredEvent[] = [];
    const take = (view: EnvelopeView, index: number) => void out.push(view.toStoredEvent({ partition: EMBEDDED_PARTITION, offset: index }));
    // A stream's events lie in runs of consecutive records (an append's batch): each run, up to
    // STREAM_READ_BYTES, is read with one call.
    for (let i = 0; i < records.length; ) {
      const first = records[i]!;
      if (first >= this.durable) break;
      let j = i;
      while (j + 1 < records.length) {
        const next = records[j + 1]!;
        if (next !== records[j]! + 1 || index.offsetOf(next) - index.offsetOf(first) >= STREAM_READ_BYTES) break;
        j++;
      }
      // scanRange stops at the durable end, as the stream's events must.
      if (this.scanRange(first, j - i + 1, take) < j - i + 1) break;
      i = j + 1;
    }
    return out;
  }

  /** Reads up to `limit` durable records from global index `from` with one read call. */
  readRange(from: number, limit: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    this.scanRange(from, limit, (view, index) => void out.push(view.toStoredEvent({ partition: EMBEDDED_PARTITION, offset: index })));
    return out;
  }

  /**
   * Hands up to `limit` durable records from global index `from` to `visit` as one reused view
   * (valid only during the call), read with one read call: for replay, which needs few of the
   * envelope's fields and no StoredEvent objects. The bytes are read into a buffer of this call's
   * own, never reused, so ranges of the view's `buf` stay valid after the visit. Returns how many
   * records it visited.
   */
  scanRange(from: number, limit: number, visit: (view: EnvelopeView, index: number) => void): number {
    const to = Math.min(this.durable, from + limit);
    if (to <= from) return 0;
    const index = this.index;
    const start = index.offsetOf(from);
    const end = to < index.records ? index.offsetOf(to) : this.endOffset;
    const buf = Buffer.allocUnsafe(end - start);
    readSync(this.readFd, buf, 0, buf.length, start);
    const view = new EnvelopeView();
    for (let i = from; i < to; i++) {
      const at = index.offsetOf(i) - start;
      const len = buf.readUInt32LE(at);
      visit(readEnvelopeView(buf, at + RECORD_HEADER, at + RECORD_HEADER + len, view), i);
    }
    return to - from;
  }

  async read(from: Cursor | undefined, limit: number): Promise<ReadResult> {
    const start = from?.[EMBEDDED_PARTITION] ?? 0;
    const events = this.readRange(start, limit);
    return { events, next: { [EMBEDDED_PARTITION]: start + events.length } };
  }

  /** Global index of the next durable record: the log's length. */
  get length(): number {
    return this.durable;
  }

  subscribe(options: SubscribeOptions): Subscription {
    const from = options.from;
    const resume = options.resume;
    const start =
      from === 'beginning'
        ? 0
        : from !== 'checkpoint'
          ? (from[EMBEDDED_PARTITION] ?? 0)
          : resume
            ? async () => (await resume())[EMBEDDED_PARTITION] ?? 0
            : this.loadCheckpoint(options.name);
    const sub = new PollingSubscription(
      start,
      options.batchSize ?? 2000,
      (at, n) => this.withTraces(this.readRange(at, n)),
      () => this.durable,
      options.handler,
      from === 'checkpoint' ? (next) => this.saveCheckpoint(options.name, next) : undefined,
      options.onError,
      streamFilter(options.streams),
    );
    const wake = () => sub.wake();
    this.listeners.add(wake);
    sub.onStop(() => this.listeners.delete(wake));
    sub.start();
    return sub;
  }

  private checkpointPath(name: string): string {
    return join(this.dir, 'checkpoints', `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  private loadCheckpoint(name: string): number {
    const p = this.checkpointPath(name);
    if (!existsSync(p)) return 0;
    return (JSON.parse(readFileSync(p, 'utf8')) as { next: number }).next;
  }

  private saveCheckpoint(name: string, next: number): void {
    const p = this.checkpointPath(name);
    writeFileSync(p + '.tmp', JSON.stringify({ next }));
    renameSync(p + '.tmp', p);
  }

  async stats(): Promise<EventLogStats> {
    return { events: this.durable, streams: this.index.streams, bytes: fstatSync(this.readFd).size };
  }

  async close(): Promise<void> {
    await this.writer?.drained();
    this.closed = true;
    this.listeners.clear();
    await this.handle?.close();
    closeSync(this.readFd);
  }
}
