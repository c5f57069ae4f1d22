import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { EventLogError } from '@opal/event-log';
import { highWatermarks } from './kafka-client.js';
import { cursorKey } from './kafka-event-log.options.js';
import type { LogIndex } from './log-index.js';

type Waiter = { key: string; offset: number; resolve: () => void; reject: (e: unknown) => void };

/**
 * Follows every domain topic from offset zero into the LogIndex, in a consumer group of its own (one
 * member, so it owns all partitions, and it never commits: each process rebuilds its index).
 */
export class TailReader {
  private readonly consumer: Consumer;
  private waiters: Waiter[] = [];
  private failure: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    kafka: Kafka,
    private readonly admin: Admin,
    private readonly topics: readonly string[],
    private readonly index: LogIndex,
    groupPrefix: string,
  ) {
    this.consumer = kafka.consumer({
      groupId: `${groupPrefix}index.${randomUUID()}`,
      // See KafkaSubscription: a crash racing stop() must not restart the consumer.
      retry: { retries: 5, restartOnFailure: async () => !this.stopped },
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 200,
      allowAutoTopicCreation: false,
    });
    // After a restart (broker gone, consumer crashed and rejoined) go on where the index got to
    // instead of from offset zero, which is what a group without commits would do.
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment as Record<string, number[]>)) {
        for (const partition of partitions) {
          const next = this.index.next(cursorKey(topic, partition));
          if (next > 0) this.consumer.seek({ topic, partition, offset: String(next) });
        }
      }
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(e.payload.error);
    });
  }

  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new EventLogError('CLOSED', 'event log is closed'));
    this.running ??= (async () => {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [...this.topics], fromBeginning: true });
      await this.consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat }) => {
          for (const m of batch.messages) {
            if (m.value) this.index.ingest(batch.topic, batch.partition, Number(m.offset), m.value);
          }
          const last = batch.messages.at(-1);
          if (last) this.index.advance(cursorKey(batch.topic, batch.partition), Number(last.offset) + 1);
          this.settle();
          await heartbeat();
        },
      });
    })();
    return this.running;
  }

  /** Resolves once the index holds every record below `offset` in partition `key`. */
  waitFor(key: string, offset: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.start().catch((error) => this.fail(error));
    if (this.index.next(key) >= offset) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ key, offset, resolve, reject }));
  }

  /** Resolves once the index holds every record that was durable in `topics` when this was called. */
  async catchUp(topics: readonly string[] = this.topics, partition?: number): Promise<void> {
    await this.start();
    const waits: Promise<void>[] = [];
    for (const topic of topics) {
      for (const [p, high] of await highWatermarks(this.admin, topic)) {
        if (partition === undefined || p === partition) waits.push(this.waitFor(cursorKey(topic, p), high));
      }
    }
    await Promise.all(waits);
  }

  private settle(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.index.next(w.key) < w.offset) return true;
      w.resolve();
      return false;
    });
  }

  private fail(error: unknown): void {
    this.failure = new EventLogError('UNAVAILABLE', `kafka index reader stopped: ${String(error)}`);
    for (const w of this.waiters) w.reject(this.failure);
    this.waiters = [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer.disconnect();
    this.fail('closed');
  }
}
