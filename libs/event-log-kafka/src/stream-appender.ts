import { activeTraceHeaders, atPosition, defaultEventId, EventLogError, GENESIS_HASH, sealBatch, type AppendOptions, type NewEvent, type StoredEvent } from '@opal/event-log';
import type { AppendBatcher } from './append-batcher.js';
import { cursorKey } from './kafka-event-log.options.js';
import { asBuffer, type LogIndex } from './log-index.js';
import type { StreamPlacement } from './stream-placement.js';
import type { TailReader } from './tail-reader.js';

/** How often an 'any' append that lost a race to another process is tried again. */
const ANY_RETRIES = 5;

/**
 * Appends to streams on Kafka with optimistic concurrency. Appends to one stream are serialised in
 * this process and checked against the stream head this process has read. Across processes the
 * partition decides: an append counts only if, at its offset, it extends the stream's chain (see
 * StreamHeads). After producing, it reads its own records back through the index and fails the
 * append with VERSION_CONFLICT if another writer got there first; every reader skips such losing
 * records the same way.
 */
export class StreamAppender {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly placement: StreamPlacement,
    private readonly index: LogIndex,
    private readonly reader: TailReader,
    private readonly batcher: AppendBatcher,
  ) {}

  append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    return this.serialised(streamId, () => this.appendNow(streamId, events, options));
  }

  /** Resolves once every append begun has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
  }

  private serialised<T>(streamId: string, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(streamId) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => undefined);
    this.locks.set(streamId, tail);
    void tail.then(() => {
      if (this.locks.get(streamId) === tail) this.locks.delete(streamId);
    });
    return run;
  }

  private async appendNow(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    this.reader.assertReading();
    this.reader.assertPlacement();
    const { topic, partition } = this.placement.locate(streamId);
    const key = cursorKey(topic, partition);
    const expected = options.expectedVersion;
    const want = expected === 'any' ? undefined : expected === 'no_stream' ? 0 : expected;
    let fresh = false; // whether this call has caught the index up with the partition
    if (this.index.checking(key)) {
      // What the index loaded from its snapshot counts only once confirmed against the partition.
      await this.reader.catchUp([topic], partition);
      fresh = true;
    }
    for (let attempt = 0; ; attempt++) {
      const version = this.index.head(streamId)?.seq ?? 0;
      if (want !== undefined && want !== version) {
        // The caller may know a newer head than this process has read yet: look before refusing.
        if (!fresh && want > version) {
          await this.reader.catchUp([topic], partition);
          fresh = true;
          continue;
        }
        throw conflict(streamId, want, version);
      }
      const head = this.index.head(streamId);
      let written: StoredEvent[] | undefined;
      const sealed = sealBatch(streamId, options.producer, version + 1, head?.hash ?? GENESIS_HASH, events, (_e, seq) =>
        defaultEventId(streamId, seq),
      );
      // Our records count only if the partition accepted them into the chain. When nothing unread
      // lies before them, the index takes them as written and judges them at once; otherwise the
      // reader reads them back after whatever another writer put first.
      // The trace this append is part of travels with its records, for whoever reacts to them.
      const headers = activeTraceHeaders();
      const first = await this.batcher.send(
        topic,
        partition,
        sealed.map((s) => ({ key: streamId, value: asBuffer(s.bytes), partition, headers })),
        (at) => {
          written = this.index.ingestWritten(key, at, sealed);
          if (written) this.reader.settle();
        },
      );
      await this.reader.waitFor(key, first + sealed.length);
      let won = true;
      for (let i = 0; i < sealed.length; i++) if (this.index.wasRejected(key, first + i)) won = false;
      if (won) return written ?? sealed.map((s, i) => atPosition(s.event, { partition: key, offset: first + i }));
      // Another process got there first; its records are in the index now.
      if (want !== undefined || attempt >= ANY_RETRIES) throw conflict(streamId, want ?? version, this.index.head(streamId)?.seq ?? 0);
    }
  }
}

function conflict(streamId: string, want: number, version: number): EventLogError {
  return new EventLogError('VERSION_CONFLICT', `stream ${streamId}: expected version ${want}, current version ${version}`);
}
