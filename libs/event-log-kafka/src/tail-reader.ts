import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { EventLogError, streamPrefix } from '@opal/event-log';
import { highWatermarks } from './kafka-client.js';
import { cursorKey } from './kafka-event-log.options.js';
import type { LogIndex } from './log-index.js';
import { Rejoiner } from './rejoin.js';

/** What the index's reader fails everything with once it has stopped for good (the log closed, or a crash it does not wait out). */
export class IndexReaderStopped extends EventLogError {
  constructor(cause: unknown) {
    super('UNAVAILABLE', `kafka index reader stopped: ${String(cause)}`);
  }
}

type Waiter = { key: string; offset: number; resolve: () => void; reject: (e: unknown) => void };
type TopicPartition = { topic: string; partition: number };

/**
 * Reads the domain topics into the LogIndex, on demand, in a consumer group of its own (one member,
 * so it owns all partitions, and it never commits: each process reads from offset zero, or from
 * where the index's snapshot got to, once the snapshot's last event of the partition is confirmed).
 * A partition is read only while someone waits for records the index does not hold yet, then paused:
 * the records this process appends reach the index as written (LogIndex.ingestWritten), so reading
 * them back would only decode them a second time.
 */
export class TailReader {
  private readonly consumer: Consumer;
  private waiters: Waiter[] = [];
  private failure: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Partitions assigned at the last join, by key; and those paused by this reader since. */
  private readonly assigned = new Map<string, TopicPartition>();
  private readonly paused = new Set<string>();

  /** The topic this process places the streams of each prefix in (see misplacement). */
  private readonly topicOfPrefix = new Map<string, string>();

  constructor(
    kafka: Kafka,
    private readonly admin: Admin,
    private readonly topics: readonly string[],
    private readonly index: LogIndex,
    groupPrefix: string,
    /** The topic a stream goes to in this process's layout. */
    private readonly placement: (streamId: string) => string,
    private readonly onRestart?: (consumer: string, error: unknown) => void,
  ) {
    this.consumer = kafka.consumer({
      groupId: `${groupPrefix}index.${randomUUID()}`,
      // See KafkaSubscription: a crash racing stop() must not restart the consumer.
      retry: { retries: 5, restartOnFailure: async () => !this.stopped },
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      // Also how long the consumer idles between looks when every partition is paused, so the
      // longest a resumed partition waits for its fetch.
      maxWaitTimeInMs: 50,
      allowAutoTopicCreation: false,
    });
    // After a (re)join go on where the index got to instead of from offset zero, which is what a
    // group without commits would do; read only the partitions someone waits for.
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      // Joined after stop() began: fail the join, or kafkajs's runner goes on fetching (see KafkaSubscription).
      if (this.stopped) throw new Error('kafka index reader: stopped while joining its group');
      this.rejoin.joined();
      this.assigned.clear();
      this.paused.clear();
      const idle: TopicPartition[] = [];
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment as Record<string, number[]>)) {
        for (const partition of partitions) {
          const key = cursorKey(topic, partition);
          this.assigned.set(key, { topic, partition });
          const next = this.index.next(key);
          if (next > 0) this.consumer.seek({ topic, partition, offset: String(next) });
          // A partition loaded from the index's snapshot is read up to its confirmation at once, so
          // that the index can write snapshots again (it writes none while one waits).
          if (!this.awaited(key) && !this.index.checking(key)) idle.push({ topic, partition });
        }
      }
      this.pause(idle);
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.crashed(e.payload.error);
    });
    this.checkNotedPlacements();
  }

  /** The kinds of stream an index loaded from its snapshot met, checked as if read again. */
  private checkNotedPlacements(): void {
    for (const [topic, streamId] of this.index.notedPlacements()) if (this.misplacement === undefined) this.checkPlacement(streamId, topic);
  }

  private readonly rejoin = new Rejoiner();

  /** Before reading anything: a partition that ends before where the snapshot got to is not the log it was taken of. */
  private async checkEnds(): Promise<void> {
    for (const topic of this.topics) {
      for (const [p, high] of await highWatermarks(this.admin, topic)) {
        if (!this.index.endFits(cursorKey(topic, p), high)) return this.diverged(`partition ${cursorKey(topic, p)} ends at offset ${high}, before where its snapshot got to`, false);
      }
    }
  }

  /**
   * The log in Kafka is not the one the index's snapshot was taken of (topics deleted and made again,
   * another cluster at the address): the index starts again empty and every partition is read again
   * from offset zero when someone waits for it.
   */
  private diverged(reason: string, reading = true): void {
    process.emitWarning(`kafka index: ${reason}; reading the log again from offset zero`, { code: 'OPAL_KAFKA_INDEX_DIVERGED' });
    this.index.reset();
    this.misplacement = undefined;
    // Kinds are noted in the index when first met: forgotten here, the emptied index notes them again.
    this.topicOfPrefix.clear();
    // Not reading yet (or again): the coming join seeks each partition where the index needs it.
    if (!reading) return;
    for (const [key, at] of this.assigned) {
      if (this.paused.has(key)) {
        if (this.awaited(key)) this.wake(key);
      } else {
        this.consumer.seek({ topic: at.topic, partition: at.partition, offset: '0' });
      }
    }
  }

  /**
   * The brokers out of reach for a while (a restart): the consumer starts again, from where the
   * index got to, and what waits on the index waits meanwhile. Anything else stops the reader.
   */
  private crashed(error: unknown): void {
    if (this.stopped || this.failure !== undefined) return;
    const again = () => {
      if (this.stopped) return;
      this.onRestart?.('index', error);
      this.running = undefined;
      void this.consumer.disconnect().then(() => this.start()).catch((e: unknown) => this.crashed(e));
    };
    if (!this.rejoin.crashed(error, again)) this.fail(error);
  }

  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new EventLogError('CLOSED', 'event log is closed'));
    // Failed for good (its own restart could not reach the brokers in time): what failed it, not
    // that start's raw error, which a subscription would take for a passing one.
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.running ??= (async () => {
      if (this.index.confirming) await this.checkEnds();
      await this.consumer.connect();
      if (this.stopped) return;
      await this.consumer.subscribe({ topics: [...this.topics], fromBeginning: true });
      if (this.stopped) return;
      await this.consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat, isStale }) => {
          // Fetched before a seek of its partition (the index started again from offset zero):
          // records from where the index no longer is; the seek fetches the right ones.
          if (isStale()) return;
          const key = cursorKey(batch.topic, batch.partition);
          for (const m of batch.messages) {
            if (this.index.checking(key)) {
              // A partition loaded from the index's snapshot counts once its last event is found
              // where the snapshot says, as it was.
              const judged = this.index.confirm(key, Number(m.offset), m.value);
              if (judged === 'diverged') return this.diverged(`partition ${key} holds another record at offset ${m.offset} than the one its snapshot holds`);
              continue;
            }
            const streamId = m.value ? this.index.ingest(key, Number(m.offset), m.value) : undefined;
            if (streamId !== undefined && this.misplacement === undefined) this.checkPlacement(streamId, batch.topic);
          }
          const last = batch.messages.at(-1);
          if (last) this.index.advance(key, Number(last.offset) + 1);
          this.settle();
          if (!this.awaited(key)) this.pause([{ topic: batch.topic, partition: batch.partition }]);
          await heartbeat();
        },
      });
    })();
    return this.running;
  }

  /**
   * The first stream found in a topic other than the one this process places it in: written under
   * another layout, by a release that placed its kind of stream elsewhere (before a service claimed
   * its prefix, say). Looked for where this process looks, its events would go unseen and its
   * version start again from zero, so what depends on placement (appends, a stream's reads, warm)
   * refuses from then on (assertPlacement); reading the log whole, as an export does, goes on.
   */
  private misplacement: EventLogError | undefined;

  private checkPlacement(streamId: string, topic: string): void {
    const prefix = streamPrefix(streamId);
    let placed = this.topicOfPrefix.get(prefix);
    if (placed === undefined) {
      this.topicOfPrefix.set(prefix, (placed = this.placement(streamId)));
      this.index.notePlacement(topic, prefix, streamId);
    }
    if (placed === topic) return;
    this.index.notePlacement(topic, prefix, streamId);
    this.misplacement = new EventLogError(
      'FAILED_PRECONDITION',
      `streams: ${streamId} lies in topic ${topic}, but this process places ${prefix} streams in ${placed}, where its events would go unseen and its version start again from zero; a release that moves a kind of stream to another topic needs the log moved to that layout (opal log export, then opal log import into an empty cluster)`,
    );
  }

  /** Throws if a stream was found where this process does not place it (see misplacement). */
  assertPlacement(): void {
    if (this.misplacement) throw this.misplacement;
  }

  /** Throws what stopped the reader, if it stopped: an append must not write what it could not judge. */
  assertReading(): void {
    if (this.failure) throw this.failure;
  }

  /** Resolves once the index holds every record below `offset` in partition `key`. */
  waitFor(key: string, offset: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.start().catch((error) => this.crashed(error));
    if (this.index.next(key) >= offset) return Promise.resolve();
    const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ key, offset, resolve, reject }));
    this.wake(key);
    return waiting;
  }

  /** Resolves once the index holds every record that was durable in `topics` when this was called. */
  async catchUp(topics: readonly string[] = this.topics, partition?: number): Promise<void> {
    await this.start().catch((error: unknown) => {
      this.crashed(error);
      throw this.failure ?? error;
    });
    const waits: Promise<void>[] = [];
    for (const topic of topics) {
      for (const [p, high] of await highWatermarks(this.admin, topic)) {
        if (partition === undefined || p === partition) waits.push(this.waitFor(cursorKey(topic, p), high));
      }
    }
    await Promise.all(waits);
  }

  /** Releases the waiters the index now satisfies (the index also grows by records taken as written). */
  settle(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (this.index.next(w.key) < w.offset) return true;
      w.resolve();
      return false;
    });
  }

  private awaited(key: string): boolean {
    return this.waiters.some((w) => w.key === key);
  }

  private pause(partitions: readonly TopicPartition[]): void {
    if (partitions.length === 0 || this.stopped) return;
    for (const p of partitions) this.paused.add(cursorKey(p.topic, p.partition));
    this.consumer.pause(partitions.map((p) => ({ topic: p.topic, partitions: [p.partition] })));
  }

  /** Reads a paused partition again, from the first record the index does not hold. */
  private wake(key: string): void {
    const at = this.assigned.get(key);
    if (!at || !this.paused.has(key) || this.stopped) return;
    try {
      this.consumer.seek({ topic: at.topic, partition: at.partition, offset: String(this.index.next(key)) });
      this.consumer.resume([{ topic: at.topic, partitions: [at.partition] }]);
      this.paused.delete(key);
    } catch {
      // kafkajs refuses while it starts its consumer again (between a crash and the join after it):
      // the waiter waits, and that join reads every awaited partition from where the index got to.
      // Thrown, it had failed an append whose records were written.
    }
  }

  private fail(error: unknown): void {
    this.failure = new IndexReaderStopped(error);
    for (const w of this.waiters) w.reject(this.failure);
    this.waiters = [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.rejoin.cancel();
    await this.consumer.disconnect();
    // A start that was under way (connect, subscribe, run) may have connected again after that
    // disconnect: once it has settled, disconnect again, or its connections keep the process alive.
    await this.running?.catch(() => {});
    await this.consumer.disconnect();
    this.fail('closed');
  }
}
