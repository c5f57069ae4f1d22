import { Partitioners, type Admin, type Kafka } from 'kafkajs';
import {
  checkPayloads,
  EventLogError,
  streamFilter,
  type AppendOptions,
  type Cursor,
  type EventLog,
  type EventLogStats,
  type NewEvent,
  type ReadResult,
  type StoredEvent,
  type SubscribeOptions,
  type Subscription,
} from '@opal/event-log';
import { AppendBatcher } from './append-batcher.js';
import { readDeadLetters, type DeadLetterRecord } from './dead-letter.js';
import { connectError, createKafka, createTopicsWithLeaders, ensureTopics, logEnds } from './kafka-client.js';
import { retentionProblems } from './topic-retention.js';
import { BrokerProbe } from './broker-probe.js';
import { cursorKey, DEFAULT_INDEX_MEMORY_BYTES, resolveTopics, type KafkaEventLogOptions, type ResolvedTopics } from './kafka-event-log.options.js';
import { KafkaSubscription } from './kafka-subscription.js';
import { StreamPlacement } from './stream-placement.js';
import { deleteGroups, groupMembers } from './group-membership.js';
import { IndexKeeper, openLogIndex } from './kept-index.js';
import type { LogIndex } from './log-index.js';
import { RenewingProducer } from './renewing-producer.js';
import { StreamOwners } from './stream-owners.js';
import { StreamAppender } from './stream-appender.js';
import { TailReader } from './tail-reader.js';

/**
 * EventLog on Apache Kafka (kafkajs). One topic per domain, message key = stream id, so a stream
 * lives in one partition and keeps its order; the value is the envelope exactly as the embedded log
 * stores it, so hash chains are identical.
 *
 * Optimistic concurrency: see StreamAppender. Across processes the partition decides, and every
 * reader skips the records that lost a version race.
 */
export class KafkaEventLog implements EventLog {
  /** The replicas of a service append to the same streams. */
  readonly concurrentWriters = true;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readonly placement: StreamPlacement;
  private readonly appender: StreamAppender;
  private closed = false;
  private readonly probe: BrokerProbe;

  private constructor(
    private readonly options: KafkaEventLogOptions,
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly producer: RenewingProducer,
    private readonly topics: ResolvedTopics,
    private readonly index: LogIndex,
    private readonly keeper: IndexKeeper | undefined,
    private readonly reader: TailReader,
    batcher: AppendBatcher,
  ) {
    this.placement = new StreamPlacement(topics);
    this.appender = new StreamAppender(this.placement, index, reader, batcher);
    this.probe = new BrokerProbe(options);
    keeper?.schedule(options.index?.snapshotCheckMs ?? 30_000);
  }

  /** Whether a broker answers now, asked once without retries (EventLog.reachable; BrokerProbe). */
  reachable(): Promise<boolean> {
    return this.closed ? Promise.resolve(false) : this.probe.reachable();
  }

  /**
   * What keeps the log's topics from keeping every event now (a setting under which Kafka deletes
   * events, a partition that lost its first records), one line each; empty when nothing does. A
   * start refuses any of these (checkKeepsEveryEvent); this asks again while the process runs, as
   * a topic's settings can be changed under it (the metric opal_event_log_retention_problems).
   */
  retentionProblems(): Promise<string[]> {
    this.assertOpen();
    return retentionProblems(this.admin, this.topics);
  }

  /**
   * Writes the index's snapshot now (see KafkaIndexOptions.persist); false where it keeps none, or
   * while what it loaded at start is not confirmed against Kafka yet.
   */
  async snapshotIndex(): Promise<boolean> {
    this.assertOpen();
    return (await this.keeper?.snapshot()) ?? false;
  }

  static async connect(options: KafkaEventLogOptions): Promise<KafkaEventLog> {
    const topics = resolveTopics(options.topics);
    const kafka = createKafka(options);
    const admin = kafka.admin();
    // Idempotent producer: broker-side dedup of retried batches; acks=all on every send; one request in flight keeps order.
    const newProducer = () =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
    const producer = newProducer();
    try {
      await admin.connect();
      await ensureTopics(admin, topics, options.createTopics ?? true, options.importing ?? false);
      await producer.connect();
    } catch (error) {
      await Promise.allSettled([admin.disconnect(), producer.disconnect()]);
      throw connectError(options, error);
    }
    const groupPrefix = options.groupPrefix ?? 'opal.';
    const { index, keeper } = openLogIndex({
      ...options.index,
      memoryBytes: options.index?.memoryBytes ?? DEFAULT_INDEX_MEMORY_BYTES,
      persist: options.index?.persist ? { topics: topics.all.map((t) => t.topic) } : undefined,
    });
    const reader = new TailReader(kafka, admin, topics.all.map((t) => t.topic), index, groupPrefix, (streamId) => topics.topicOf(streamId), options.onConsumerRestart);
    const renewing = new RenewingProducer(producer, newProducer);
    const batcher = new AppendBatcher(renewing, options.maxInFlightAppends ?? 256);
    // The index starts with the first call that needs it (an append or a read): a process that only
    // subscribes (a projection) does not follow every topic a second time.
    return new KafkaEventLog(options, kafka, admin, renewing, topics, index, keeper, reader, batcher);
  }

  /** Topic and partition of a stream: the domain topic, and the Java client's murmur2 of the key. */
  locate(streamId: string): { topic: string; partition: number } {
    return this.placement.locate(streamId);
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    if (this.closed) throw new EventLogError('CLOSED', 'event log is closed');
    if (!streamId) throw new EventLogError('INVALID_ARGUMENT', 'stream_id: must not be empty');
    checkPayloads(events);
    if (events.length === 0) return [];
    return this.appender.append(streamId, events, options).catch((error) => this.rethrow(error));
  }

  /**
   * A Kafka client error that reaches a caller (the brokers out of reach past the client's retries)
   * as UNAVAILABLE, naming the brokers, so a gRPC caller gets a status it can retry on; every other
   * error as it is.
   */
  private rethrow(error: unknown): never {
    const name = (error as { name?: unknown } | null)?.name;
    if (typeof name === 'string' && name.startsWith('KafkaJS')) throw connectError(this.options, error);
    throw error;
  }

  async streamVersion(streamId: string): Promise<number> {
    await this.catchUpStream(streamId).catch((error) => this.rethrow(error));
    return this.index.head(streamId)?.seq ?? 0;
  }

  async readStream(streamId: string, fromSeq = 1, limit = Infinity): Promise<StoredEvent[]> {
    await this.catchUpStream(streamId).catch((error) => this.rethrow(error));
    return this.index.stream(streamId, fromSeq, limit);
  }

  private async catchUpStream(streamId: string): Promise<void> {
    this.assertOpen();
    const { topic, partition } = this.locate(streamId);
    await this.reader.catchUp([topic], partition);
    this.reader.assertPlacement();
  }

  /**
   * Whether the record at `offset` counts as an event (extends its stream's chain) or is a loser of
   * a version race. The index reads the partition from offset zero up to it first.
   */
  private async counts(topic: string, partition: number, offset: number): Promise<boolean> {
    const key = cursorKey(topic, partition);
    // A partition loaded from the index's snapshot is confirmed against Kafka before it answers.
    if (this.index.next(key) <= offset || this.index.checking(key)) await this.reader.catchUp([topic], partition);
    return !this.index.wasRejected(key, offset);
  }

  async read(from: Cursor | undefined, limit: number): Promise<ReadResult> {
    this.assertOpen();
    await this.reader.catchUp().catch((error) => this.rethrow(error));
    const next: Record<string, number> = { ...from };
    const events: StoredEvent[] = [];
    for (const { topic, partitions } of this.topics.all) {
      for (let p = 0; p < partitions; p++) {
        const key = cursorKey(topic, p);
        const start = from?.[key] ?? 0;
        const got = this.index.eventsFrom(key, start, limit - events.length);
        events.push(...got);
        // Stopped inside the partition: resume after the last event handed out; else at its end.
        next[key] = events.length >= limit && got.length > 0 ? got.at(-1)!.position.offset + 1 : Math.max(start, this.index.next(key));
        if (events.length >= limit) return { events, next };
      }
    }
    return { events, next };
  }

  subscribe(options: SubscribeOptions): Subscription {
    this.assertOpen();
    const retry = this.options.retry ?? {};
    const wanted = streamFilter(options.streams);
    // Only the topics that hold the streams asked for; within them, other streams are passed over.
    const topics = this.placement.topicsOf(options.streams);
    const sub = new KafkaSubscription(
      this.kafka,
      this.admin,
      this.producer,
      {
        topics,
        wanted,
        groupPrefix: this.options.groupPrefix ?? 'opal.',
        deadLetterTopic: this.topics.deadLetter,
        batchSize: options.batchSize ?? this.options.batchSize ?? 2000,
        onConsumerRestart: this.options.onConsumerRestart,
        maxAttempts: retry.maxAttempts ?? 5,
        initialBackoffMs: retry.initialBackoffMs ?? 20,
        maxBackoffMs: retry.maxBackoffMs ?? 2000,
      },
      options,
      () => this.subscriptions.delete(sub),
      (topic, partition, offset) => this.counts(topic, partition, offset),
    );
    this.subscriptions.add(sub);
    sub.start();
    return sub;
  }

  async stats(): Promise<EventLogStats> {
    this.assertOpen();
    await this.reader.catchUp().catch((error) => this.rethrow(error));
    return this.index.stats();
  }

  /**
   * Reads the topics of these domains into the index now, from offset zero, as the first append or
   * read on them would: a replica starting on a long log then takes its first command without that
   * wait. Returns the events the index holds. The default topic is read too (it holds the streams
   * no domain claims, and is empty when every kind is claimed): once a stream has been read of a kind
   * this process places elsewhere, this, appends and a stream's reads fail with FAILED_PRECONDITION.
   */
  async warm(domains: readonly string[]): Promise<number> {
    this.assertOpen();
    const topics = domains.map((d) => this.placement.topicOfDomain(d));
    if (topics.length > 0) await this.reader.catchUp([...new Set([...topics, this.topics.defaultTopic])]);
    this.reader.assertPlacement();
    return this.index.stats().events;
  }

  /** What this process's index holds now, without reading further: events, and their bytes in memory and on disk. */
  indexFootprint(): { events: number; bytesInMemory: number; bytesInFile: number; restoredEvents: number } {
    const { memory, file } = this.index.placement();
    return { events: this.index.stats().events, bytesInMemory: memory, bytesInFile: file, restoredEvents: this.index.restored };
  }

  /** The events subscriptions set aside as poison, each with its reason, oldest first per partition. */
  async deadLetters(): Promise<DeadLetterRecord[]> {
    this.assertOpen();
    return readDeadLetters(this.kafka, this.admin, this.topics.deadLetter);
  }

  /**
   * How many processes are in each 'checkpoint' subscription's consumer group now, by subscription
   * name (0: none, whether or not the group still holds their committed progress).
   */
  async subscribers(names: readonly string[]): Promise<Map<string, number>> {
    this.assertOpen();
    const members = await groupMembers(this.admin, names.map((n) => this.groupOf(n)));
    return new Map(names.map((n) => [n, members.get(this.groupOf(n)) ?? 0]));
  }

  /**
   * Joins the processes that take commands on these domains' streams (one consumer group per set of
   * domains), advertising `address`: each partition of their topics is then owned by one of them.
   * `owner(streamId)` gives the address of the process that owns a stream now (see StreamOwners).
   */
  async joinOwners(domains: readonly string[], address: string, onChange?: (owners: ReadonlyMap<string, string>) => void): Promise<{ owners: StreamOwners; owner: (streamId: string) => string | undefined }> {
    this.assertOpen();
    const topics = [...new Set(domains.map((d) => this.placement.topicOfDomain(d)))];
    const owners = await StreamOwners.join(this.kafka, { groupId: this.groupOf(`owners.${[...domains].sort().join('+')}`), topics, address, onChange });
    return {
      owners,
      owner: (streamId) => {
        const { topic, partition } = this.locate(streamId);
        return owners.ownerOf(topic, partition);
      },
    };
  }

  /**
   * Forgets the progress stored for these 'checkpoint' subscriptions (their consumer groups). One
   * that processes are still in is refused (FAILED_PRECONDITION, naming it); one never stored is
   * nothing to forget.
   */
  async forgetSubscriptions(names: readonly string[]): Promise<void> {
    this.assertOpen();
    const busy = [...(await this.subscribers(names))].filter(([, members]) => members > 0);
    if (busy.length > 0) {
      throw new EventLogError('FAILED_PRECONDITION', `subscription ${busy.map(([n, m]) => `${n} (${m} process${m === 1 ? '' : 'es'})`).join(', ')}: still in use`);
    }
    await deleteGroups(this.admin, names.map((n) => this.groupOf(n)));
  }

  /**
   * Per partition of the topics that hold these kinds of stream (every domain topic when absent), the
   * offset after its last record now: with a read model's stored cursor, how far behind it is.
   */
  async endsOf(streams?: readonly string[]): Promise<Cursor> {
    this.assertOpen();
    return Object.fromEntries(await logEnds(this.admin, this.placement.topicsOf(streams)).catch((error) => this.rethrow(error)));
  }

  private groupOf(subscription: string): string {
    return `${this.options.groupPrefix ?? 'opal.'}${subscription}`;
  }

  /**
   * Marks the log as being imported into (ResolvedTopics.importMarker), before the import's first
   * append: until endImport, every other process refuses to connect. Only with `importing`.
   */
  async beginImport(): Promise<void> {
    this.assertOpen();
    if (!this.options.importing) throw new EventLogError('FAILED_PRECONDITION', 'beginImport: connect with `importing` to import');
    const marker = this.topics.importMarker;
    if ((await this.admin.listTopics()).includes(marker)) return; // an import resumed
    await createTopicsWithLeaders(this.admin, { topics: [{ topic: marker, numPartitions: 1, replicationFactor: this.topics.replicationFactor }] }).catch(async (error: unknown) => {
      if (!(await this.admin.listTopics()).includes(marker)) throw error;
    });
  }

  /** The import is whole: its mark goes, and once it is gone, processes connect again. */
  async endImport(): Promise<void> {
    this.assertOpen();
    const marker = this.topics.importMarker;
    if (!(await this.admin.listTopics()).includes(marker)) return;
    await this.admin.deleteTopics({ topics: [marker] });
    for (let i = 0; (await this.admin.listTopics()).includes(marker); i++) {
      if (i >= 100) throw new EventLogError('UNAVAILABLE', `topics: ${marker} was deleted but is still listed after 10 s; delete it once the import's counts are checked`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Topic names in use: the domain topics and the dead-letter topic. */
  topicNames(): { domains: string[]; deadLetter: string } {
    return { domains: this.topics.all.map((t) => t.topic), deadLetter: this.topics.deadLetter };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.appender.settled();
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
    await this.reader.stop();
    await this.keeper?.close();
    this.index.close();
    await this.producer.close();
    await this.admin.disconnect();
    await this.probe.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new EventLogError('CLOSED', 'event log is closed');
  }
}

