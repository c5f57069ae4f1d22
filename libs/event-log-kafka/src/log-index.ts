import { atPosition, decodeEnvelopeFast, type SealedEvent, type StoredEvent } from '@opal/event-log';
import { cursorKey } from './kafka-event-log.options.js';
import { StreamHeads } from './stream-heads.js';

type PartitionLog = {
  /** Next offset this index has not read yet. */
  next: number;
  /** Accepted events in offset order. */
  readonly events: StoredEvent[];
  /** Offsets of losers of a version race (rare), kept so an appender can learn it lost. */
  readonly rejected: Set<number>;
};

/**
 * What one process knows of the log: every accepted event of every partition it has read from
 * offset zero, by partition and by stream. Held in memory (like the embedded log's index, but with
 * the events themselves, since Kafka cannot fetch one stream's records by key).
 */
export class LogIndex {
  private readonly partitions = new Map<string, PartitionLog>();
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly heads = new StreamHeads(false);
  private totalBytes = 0;
  private totalEvents = 0;

  private partition(key: string): PartitionLog {
    let p = this.partitions.get(key);
    if (!p) this.partitions.set(key, (p = { next: 0, events: [], rejected: new Set() }));
    return p;
  }

  /** Reads one record; records below the partition's next offset were seen already and are ignored. */
  ingest(topic: string, partition: number, offset: number, value: Uint8Array): void {
    const key = cursorKey(topic, partition);
    const p = this.partition(key);
    if (offset < p.next) return;
    p.next = offset + 1;
    const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    this.add(p, decodeEnvelopeFast(buf, 0, buf.length, { partition: key, offset }), value.byteLength);
  }

  /**
   * Takes records this process has just written, already decoded, when they are the next ones of
   * their partition (nothing unread lies before them); the reader skips them when it gets there.
   * Returns them as stored, or undefined (leaving them to the reader) otherwise.
   */
  ingestWritten(key: string, first: number, events: readonly SealedEvent[]): StoredEvent[] | undefined {
    const p = this.partition(key);
    if (p.next !== first) return undefined;
    const out: StoredEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const { event, bytes } = events[i]!;
      const e = atPosition(event, { partition: key, offset: first + i });
      p.next = first + i + 1;
      this.add(p, e, bytes.byteLength);
      out.push(e);
    }
    return out;
  }

  private add(p: PartitionLog, e: StoredEvent, bytes: number): void {
    const offset = e.position.offset;
    if (!this.heads.admit(e)) {
      p.rejected.add(offset);
      return;
    }
    p.events.push(e);
    let s = this.streams.get(e.streamId);
    if (!s) this.streams.set(e.streamId, (s = []));
    s.push(e);
    this.totalBytes += bytes;
    this.totalEvents++;
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

  stream(streamId: string): readonly StoredEvent[] {
    return this.streams.get(streamId) ?? [];
  }

  head(streamId: string): { seq: number; hash: Uint8Array } | undefined {
    return this.heads.head(streamId);
  }

  /** Accepted events of one partition from offset `from`, at most `limit`. */
  eventsFrom(key: string, from: number, limit: number): StoredEvent[] {
    const events = this.partitions.get(key)?.events;
    if (!events || limit <= 0) return [];
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events[mid]!.position.offset < from) lo = mid + 1;
      else hi = mid;
    }
    return events.slice(lo, lo + limit);
  }

  stats(): { events: number; streams: number; bytes: number } {
    return { events: this.totalEvents, streams: this.streams.size, bytes: this.totalBytes };
  }
}
