import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Cursor, SubscribeOptions, Subscription } from '@opal/event-log';
import { logEnds } from './kafka-client.js';
import { GroupCommitted } from './group-committed.js';
import { cursorKey } from './kafka-event-log.options.js';
import { StreamHeads } from './stream-heads.js';
import { judgeChunk } from './chunk-judge.js';
import { RetryingDelivery, Revoked, type DeliverySettings } from './retrying-delivery.js';
import { asRejoin, keepAlive } from './group-membership.js';
import { DeliveryRounds } from './delivery-rounds.js';
import { Rejoiner } from './rejoin.js';
import { IndexReaderStopped } from './tail-reader.js';

export type SubscriptionSettings = DeliverySettings & {
  readonly topics: readonly string[];
  /** Which streams' events go to the handler (all when undefined); the others are passed over. */
  readonly wanted?: (streamId: string) => boolean;
  readonly groupPrefix: string;
  readonly batchSize: number;
  readonly onConsumerRestart?: (consumer: string, error: unknown) => void;
};

/** Partitions whose batches kafkajs may hand over at once (and so join one round). */
const ROUND_PARTITIONS = 64;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * After a batch of fewer records than this, the next fetch waits LINGER_MS. Events that come one
 * append at a time (a client stream of contributions) would otherwise cost every subscription a
 * fetch, an offset commit and a handler call each: with a few milliseconds' wait they come in
 * batches instead. A consumer that is behind gets full batches and never waits; an idle one waits
 * in the broker's fetch as before.
 */
export const LINGER_BELOW = 256;
export const LINGER_MS = 20;

/**
 * One subscription = one consumer group. 'checkpoint' uses the group `<prefix><name>` and commits
 * after each handled batch, so several processes with the same name share the partitions; 'beginning'
 * and a cursor use a group of their own that never commits. Per partition, batches are handed over in
 * order and the next fetch waits for the handler (backpressure). A failing batch is retried, and an
 * event that keeps failing goes to the dead-letter topic (RetryingDelivery); the subscription goes on.
 */
export class KafkaSubscription implements Subscription {
  private readonly consumer: Consumer;
  private readonly groupId: string;
  private readonly committed: GroupCommitted;
  /** Each fetch's partition batches, delivered together through the retrying delivery. */
  private readonly rounds: DeliveryRounds;
  private readonly positions = new Map<string, number>();
  private assigned: string[] = [];
  private joined: Promise<void>;
  private markJoined!: () => void;
  private ready: Promise<void> = Promise.resolve();
  private waiters: { targets: Map<string, number>; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly heads = new Map<string, StreamHeads>();
  private stopped = false;
  private started: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    kafka: Kafka,
    private readonly admin: Admin,
    producer: Pick<Producer, 'send'>,
    private readonly settings: SubscriptionSettings,
    private readonly options: SubscribeOptions,
    private readonly onStopped: () => void,
    /** Whether a record counts as an event of its stream (the adapter's index decides, from offset zero). */
    private readonly counts: (topic: string, partition: number, offset: number) => Promise<boolean>,
  ) {
    const delivery = new RetryingDelivery(producer, settings, options, () => this.stopped);
    this.rounds = new DeliveryRounds((events, payloads) => delivery.deliver(events, payloads));
    this.groupId = options.from === 'checkpoint' ? `${settings.groupPrefix}${options.name}` : `${settings.groupPrefix}${options.name}.${randomUUID()}`;
    this.committed = new GroupCommitted(
      admin,
      this.groupId,
      settings.topics,
      this.positions,
      () => this.stopped,
      (error) => this.options.onError?.(error, []),
      () => this.settle(),
    );
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      // kafkajs schedules a crashed consumer's restart after its own disconnect: a stop() in that
      // window would be undone by a restart that then retries forever once the broker is gone. A
      // subscription that failed for good is not started again either (see onBatch).
      retry: { retries: 5, restartOnFailure: async () => !this.stopped && this.failure === undefined },
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      // An idle fetch waits up to 1 s at the broker, which answers as soon as a record arrives: at
      // 200 ms, the fetches of an idle `opal up` took the broker 5% of a core (now under 3%).
      maxWaitTimeInMs: 1000,
      // Up to 8 MiB per partition and fetch (kafkajs: 1 MiB), so a consumer that fell behind gets
      // batches large enough to amortise its handler's per-batch cost.
      maxBytesPerPartition: 8 << 20,
      allowAutoTopicCreation: false,
    });
    this.joined = new Promise((r) => (this.markJoined = r));
    // Rebalance: learn the new assignment and where each partition resumes, forget stream heads
    // (another member may have moved them), and release waiters that no longer apply.
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      // Joined after stop() began: kafkajs's stop returns at once while its runner joins, and lets
      // go of it, and the runner would then fetch for good with nobody to stop it. Thrown here, the
      // join fails, and kafkajs does not start it again (restartOnFailure: stopped).
      if (this.stopped) throw new Error(`subscription ${options.name}: stopped while joining its group`);
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      const assigned = Object.entries(assignment).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })));
      this.rejoin.joined();
      this.assigned = assigned.map((a) => cursorKey(a.topic, a.partition));
      this.heads.clear();
      this.entered.clear();
      if (this.durable) {
        this.positions.clear();
        this.ready = this.options.resume ? this.resumeFromState(assigned, ++this.joins) : this.committed.load();
      } else {
        // A group of our own never commits: each (re)join resumes where this subscription got to.
        for (const { topic, partition } of assigned) {
          const key = cursorKey(topic, partition);
          const start = this.positions.get(key) ?? this.startOf(key);
          this.positions.set(key, start);
          this.consumer.seek({ topic, partition, offset: String(start) });
        }
        this.ready = Promise.resolve();
      }
      void this.ready.then(
        () => {
          this.markJoined();
          this.settle();
        },
        // Where it resumes could not be set (a seek while kafkajs restarts its consumer, the store
        // away): the batches and caughtUp() that wait on it fail with it, and the next join tries
        // again. Left unhandled here, the rejection would end the process.
        () => {},
      );
    });
  }

  private get durable(): boolean {
    return this.options.from === 'checkpoint';
  }

  private startOf(key: string): number {
    const from = this.options.from;
    return typeof from === 'object' ? (from[key] ?? 0) : 0;
  }

  start(): void {
    // kafkajs restarts a crashed consumer on retriable errors by itself; the brokers out of reach
    // for a while (a restart) are waited out here; anything else ends here.
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.crashed(e.payload.error);
    });
    this.started = this.run().catch((error) => this.crashed(error));
  }

  private readonly rejoin = new Rejoiner();

  private crashed(error: unknown): void {
    if (this.stopped || this.failure !== undefined) return;
    const again = () => {
      if (this.stopped) return;
      this.settings.onConsumerRestart?.(this.options.name, error);
      this.started = this.consumer.disconnect().then(() => this.run()).catch((e: unknown) => this.crashed(e));
    };
    if (!this.rejoin.crashed(error, again)) this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined || this.stopped) return;
    this.failure = error;
    this.options.onFailed?.(error);
    this.markJoined();
    for (const w of this.waiters) w.reject(error);
    this.waiters = [];
  }

  private async run(): Promise<void> {
    await this.consumer.connect();
    if (this.stopped) return;
    await this.consumer.subscribe({ topics: [...this.settings.topics], fromBeginning: true });
    if (this.stopped) return;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: ROUND_PARTITIONS,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /**
   * Where each partition handed to this member resumes, from the handler's own stored cursor
   * (SubscribeOptions.resume), asked until it answers. The partitions are moved there, and the
   * group's progress for them is set to it at once: the group's offsets may be another database's
   * (a new one, or this one restored from a backup), and sharedCursor must not count those.
   */
  private async resumeFromState(assigned: readonly { topic: string; partition: number }[], join: number): Promise<void> {
    // A later join (another rebalance while the store was away) decides for the partitions then.
    const superseded = () => this.stopped || join !== this.joins;
    let stored: Cursor | undefined;
    for (let pause = 100; stored === undefined; pause = Math.min(pause * 2, 5000)) {
      if (superseded()) return;
      try {
        stored = await this.options.resume!();
      } catch (error) {
        this.options.onError?.(error, []);
        await sleep(pause);
      }
    }
    if (superseded()) return;
    const offsets = assigned.map(({ topic, partition }) => {
      const offset = stored[cursorKey(topic, partition)] ?? 0;
      this.positions.set(cursorKey(topic, partition), offset);
      this.consumer.seek({ topic, partition, offset: String(offset) });
      return { topic, partition, offset: String(offset) };
    });
    // Only where the group says otherwise (none committed reads as zero), so a partition nothing
    // was ever read from keeps no committed progress. Best effort: a rebalance under way fails it,
    // and the next join sets them again.
    const committed = await this.committed.offsets().catch(() => new Map<string, number>());
    const differing = offsets.filter((o) => Math.max(0, committed.get(cursorKey(o.topic, o.partition)) ?? 0) !== Number(o.offset));
    if (differing.length > 0) await this.consumer.commitOffsets(differing).catch(() => {});
  }

  private headsOf(key: string): StreamHeads {
    let h = this.heads.get(key);
    if (!h) this.heads.set(key, (h = new StreamHeads(false)));
    return h;
  }

  /** Joins of the group so far (see resumeFromState). */
  private joins = 0;

  /** Per partition, the first offset this member delivers since it joined (its heads start there). */
  private readonly entered = new Map<string, number>();

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, resolveOffset, heartbeat } = payload;
    const key = cursorKey(batch.topic, batch.partition);
    const messages = batch.messages;
    // A batch fetched before this member knew where to resume waits for that (heartbeating: the
    // store it asks may be away for a while); one fetched from elsewhere is then stale (the
    // partition was moved) and is fetched again from there.
    await keepAlive(heartbeat, () => this.ready);
    try {
      for (let i = 0; i < messages.length; i += this.settings.batchSize) {
        if (!isRunning() || isStale() || this.stopped) return;
        const chunk = messages.slice(i, i + this.settings.batchSize);
        const heads = this.headsOf(key);
        if (!this.entered.has(key)) this.entered.set(key, Number(chunk[0]!.offset));
        const midway = (this.entered.get(key) ?? 0) > 0;
        // The index may first read the partition from offset zero (a process that only subscribes):
        // longer than the session timeout, which would cost this member its place.
        const events = await keepAlive(heartbeat, () => judgeChunk(chunk, { topic: batch.topic, partition: batch.partition, key, midway, heads, wanted: this.settings.wanted, counts: this.counts }));
        if (events.length > 0) await keepAlive(heartbeat, () => this.rounds.join(events, payload));
        const next = Number(chunk.at(-1)!.offset) + 1;
        if (isStale()) return;
        if (this.durable) {
          const offset = String(next);
          // Once stop() has begun, kafkajs's runner commits nothing (it returns at once while it
          // waits for this batch), and the chunk would be delivered again after the restart; the
          // payload's commit still reaches the group, of which this is a member until the batch ends.
          const commit = isRunning()
            ? this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset }])
            : payload.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset }] }] });
          await commit.catch(asRejoin);
        }
        resolveOffset(chunk.at(-1)!.offset);
        this.positions.set(key, next);
        this.settle();
        await heartbeat();
      }
      if (messages.length < LINGER_BELOW && isRunning() && !isStale() && !this.stopped) await sleep(LINGER_MS);
    } catch (error) {
      // The chunk's events were taken as their streams' heads before its delivery failed. kafkajs
      // fetches the partition again from its last resolved offset, without a rejoin (its runner
      // retries in place), and those heads would refuse the same events there as already seen,
      // which would then be passed over and committed. The partition's heads start again from
      // there, as on entering it midway (the index judges each stream's first record).
      this.heads.delete(key);
      this.entered.delete(key);
      if (error instanceof Revoked) return; // the partition's new owner resumes from the last commit
      // The index will not judge a record again: kafkajs would fetch, fail, leave and rejoin the
      // group for good (its error looks retriable), unsettling the other members each time.
      // The subscription fails instead (onFailed), and kafkajs then leaves the group once.
      if (error instanceof IndexReaderStopped) this.fail(error);
      throw error;
    }
  }

  private settle(): void {
    this.waiters = this.waiters.filter((w) => {
      for (const [key, target] of w.targets) {
        if (this.assigned.includes(key) && (this.positions.get(key) ?? 0) < target) return true;
      }
      w.resolve();
      return false;
    });
  }

  async caughtUp(): Promise<void> {
    const targets = await logEnds(this.admin, this.settings.topics);
    await this.joined;
    await this.ready;
    if (this.failure) throw this.failure;
    if (this.stopped) return;
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ targets, resolve, reject });
      this.settle();
    });
    // The group's other members deliver the rest: their progress is in the committed offsets.
    if (this.durable) await this.groupPast(targets);
  }

  /**
   * Waits until the group's progress (sharedCursor) is past every target. A member that died holds
   * its partitions until the broker ends its session and hands them to a live member.
   */
  private async groupPast(targets: Map<string, number>): Promise<void> {
    const past = (at: (key: string) => number | undefined) => [...targets].every(([key, end]) => (at(key) ?? 0) >= end);
    if (past((key) => this.positions.get(key))) return; // all delivered here
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      if (this.failure) throw this.failure;
      if (this.stopped) return;
      // The broker may be away for a moment (a restart): ask again.
      const shared = await this.sharedCursor().catch(() => undefined);
      if (shared && past((key) => shared[key])) return;
      await sleep(pause);
    }
  }

  cursor(): Cursor {
    return Object.fromEntries(this.positions);
  }

  /** Adds the group's committed offsets: partitions other members deliver move on there, not here. */
  async sharedCursor(): Promise<Cursor> {
    const out: Record<string, number> = Object.fromEntries(this.positions);
    if (!this.durable) return out;
    for (const [key, committed] of await this.committed.offsets()) if (committed > (out[key] ?? 0)) out[key] = committed;
    return out;
  }

  async lag(): Promise<number> {
    const [shared, ends] = await Promise.all([this.sharedCursor(), logEnds(this.admin, this.settings.topics)]);
    let behind = 0;
    for (const [key, high] of ends) behind += Math.max(0, high - (shared[key] ?? this.startOf(key)));
    return behind;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.rejoin.cancel();
    await this.consumer.disconnect();
    await this.started;
    // A start under way may have connected again after that disconnect (see TailReader.stop).
    await this.consumer.disconnect();
    this.markJoined();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.onStopped();
  }
}
