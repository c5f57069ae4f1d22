import type { NewEvent, StoredEvent } from './envelope.js';
import { EventLogError } from './errors.js';

/**
 * Expected version of a stream at append time (optimistic concurrency): the sequence of its last
 * event, 0 or 'no_stream' for a stream that must not exist yet, 'any' to skip the check.
 */
export type ExpectedVersion = number | 'no_stream' | 'any';

/** Opaque resume point: the next offset to read in each partition. Serialisable as JSON. */
export type Cursor = Readonly<Record<string, number>>;

export type AppendOptions = {
  readonly expectedVersion: ExpectedVersion;
  readonly producer: string;
};

/** The kind of a stream: its id up to the first '-' or ':' (`datanet-7` → `datanet`). */
export function streamPrefix(streamId: string): string {
  const cut = streamId.search(PREFIX_END);
  return cut < 0 ? streamId : streamId.slice(0, cut);
}

const PREFIX_END = /[:-]/;

/**
 * Whether an event of this stream goes to a subscriber that asked for these streams (undefined:
 * every stream). Refuses a list that is empty or holds something other than a prefix.
 */
export function streamFilter(streams: readonly string[] | undefined): ((streamId: string) => boolean) | undefined {
  if (streams === undefined) return undefined;
  if (streams.length === 0) throw new EventLogError('INVALID_ARGUMENT', 'streams: empty; leave it out to subscribe to every stream');
  for (const p of streams) {
    if (p.length === 0 || streamPrefix(p) !== p) throw new EventLogError('INVALID_ARGUMENT', `streams: '${p}' is not a stream prefix (the part of an id before its first '-' or ':')`);
  }
  const wanted = new Set(streams);
  return (streamId) => wanted.has(streamPrefix(streamId));
}

export type ReadResult = { readonly events: StoredEvent[]; readonly next: Cursor };

export type SubscribeOptions = {
  /** Consumer name; with from 'checkpoint' the log stores its progress under this name. */
  readonly name: string;
  /** 'beginning' (offset zero), 'checkpoint' (the log's stored progress of `name`), or a cursor. */
  readonly from: 'beginning' | 'checkpoint' | Cursor;
  /**
   * With from 'checkpoint': where each partition resumes, asked whenever partitions are handed to
   * this process (a start, a rebalance), instead of the progress the log stores for `name` (which
   * then only shows progress: sharedCursor, lag). For a handler that stores its own cursor with the
   * state it builds, so that state and cursor cannot part: a database new to the log, or restored
   * from a backup, is built from its own cursor, never from the progress another database made. A
   * partition the cursor does not name starts at offset zero; each partition's value must never be
   * past what the state holds. A failed call is retried with backoff; nothing is delivered meanwhile.
   */
  readonly resume?: () => Promise<Cursor>;
  readonly batchSize?: number;
  /**
   * The kinds of stream whose events the subscriber needs, by prefix of their ids (see
   * streamPrefix: 'datanet' takes `datanet-…`). The handler then gets only those streams' events,
   * and a log may not read the others at all (Kafka follows only the topics that hold these).
   * Absent: every stream. Events of other streams still count in lag() until passed.
   */
  readonly streams?: readonly string[];
  /**
   * Called with batches in log order per partition; the next batch waits for it. At-least-once.
   * A failing batch is retried; one whose error is transient (see isTransient: a store or the log
   * away for now) is retried until it goes through, never dead-lettered.
   */
  readonly handler: (events: StoredEvent[]) => Promise<void> | void;
  /** A batch failed (it is retried, or dead-lettered where the adapter does that). */
  readonly onError?: (error: unknown, events: StoredEvent[]) => void;
  /** The subscription stopped for good on its own and delivers nothing more (not called on stop()). */
  readonly onFailed?: (error: unknown) => void;
  /** An event kept failing and was set aside with this reason (where the adapter does that); the subscription goes on. */
  readonly onDeadLettered?: (event: StoredEvent, reason: string) => void;
};

export type Subscription = {
  /**
   * Resolves once the subscription has delivered every event durable when this was called. A
   * 'checkpoint' subscription shared by several processes counts what they all delivered (see
   * sharedCursor): the partitions another process delivers count once its progress is stored. A
   * partition whose process died waits until the log hands it to a live one, which delivers it.
   */
  caughtUp(): Promise<void>;
  /** Where this process has got to: per partition, the next offset it will deliver. */
  cursor(): Cursor;
  /**
   * Where all processes of this subscription together have got to. A 'checkpoint' subscription is
   * shared by the processes that run it, each delivering some partitions: per partition, the
   * furthest of this process's position and the progress the log stores for the subscription.
   * Elsewhere the same as cursor().
   */
  sharedCursor(): Promise<Cursor>;
  /**
   * How far behind the log the subscription is: the records durable now that all its processes
   * together (see sharedCursor) have not delivered yet. Records the subscription skips (a refused
   * append's copy, a duplicate) count until it has passed them. 0 once caught up.
   */
  lag(): Promise<number>;
  stop(): Promise<void>;
};

export type EventLogStats = { readonly events: number; readonly streams: number; readonly bytes: number };

/** The event log, the single source of truth. Adapters: embedded (default) and Kafka. */
export interface EventLog {
  /**
   * True where other processes may append to the same streams (Kafka, shared by the replicas of a
   * service): what this process has read of a stream can be behind, and an append it decided on
   * that can lose the race. Absent or false for a log of one process (embedded).
   */
  readonly concurrentWriters?: boolean;
  /**
   * Whether the log's servers answer now, asked once without the client's retries (a few seconds at
   * most), for a caller that should not wait those out to learn it is away. Absent where the log is
   * in this process (always there).
   */
  reachable?(): Promise<boolean>;
  /**
   * Per partition of the topics that hold these kinds of stream (all when absent), the offset after
   * its last record now: where a whole-log read that began now stops (readToEnd). Absent where the
   * log does not grow under a reader (an embedded log opened read-only sees it as at its open).
   */
  endsOf?(streams?: readonly string[]): Promise<Cursor>;
  /** Appends to one stream atomically; resolves once the events are durable. */
  append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]>;
  /** Current version (last sequence) of a stream; 0 when it has no events. */
  streamVersion(streamId: string): Promise<number>;
  /** Events of one stream from `fromSeq` (1-based), in order; at most `limit` of them when given. */
  readStream(streamId: string, fromSeq?: number, limit?: number): Promise<StoredEvent[]>;
  /** Durable events after `from` (the start when undefined), at most `limit`. */
  read(from: Cursor | undefined, limit: number): Promise<ReadResult>;
  subscribe(options: SubscribeOptions): Subscription;
  stats(): Promise<EventLogStats>;
  close(): Promise<void>;
}

export const EVENT_LOG = Symbol('EventLog');
