import type { ISocketFactory, ITopicConfig } from 'kafkajs';
import { streamPrefix } from '@opal/event-log';

export type KafkaTopicsOptions = {
  /** Prefix of every topic name, e.g. 'opal.' (default). */
  readonly prefix?: string;
  /** Domain of streams whose id has no mapped prefix (default 'events'). */
  readonly defaultDomain?: string;
  /**
   * Stream id prefix (the part before the first ':' or '-') to domain, e.g. { datanet: 'ingest',
   * contribution: 'ingest', epoch: 'settlement' }. Several aggregates may share one domain topic.
   */
  readonly streamDomains?: Readonly<Record<string, string>>;
  /** Partitions per domain topic; default `defaultPartitions`. */
  readonly partitions?: Readonly<Record<string, number>>;
  readonly defaultPartitions?: number;
  /**
   * Copies of each partition when a topic is created (default 1, for a single broker). From 3 up,
   * topics also get `min.insync.replicas=2`: with `acks=all` an append is acknowledged only once
   * two brokers hold it, so losing one broker loses nothing acknowledged.
   */
  readonly replicationFactor?: number;
  /** Dead-letter topic name without prefix (default 'dead-letter'). */
  readonly deadLetter?: string;
};

export type KafkaRetryOptions = {
  /** Attempts at a failing batch, then at each of its events alone, before dead-lettering. */
  readonly maxAttempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
};

/**
 * The index a process keeps of the log it appends to or reads (every record of those partitions,
 * from offset zero): the records' bytes past `memoryBytes` (default 256 MiB), the oldest, live in a
 * file of the process in `dir` (default the OS temp folder), removed when the process ends.
 */
export type KafkaIndexOptions = {
  readonly memoryBytes?: number;
  readonly dir?: string;
  /** Bytes per block of records moved to the file at once (default 4 MiB; tests use small ones). */
  readonly chunkBytes?: number;
  /**
   * Keep the index across restarts in `dir` (every record in a file there, and a snapshot of the rest
   * at most every `snapshotCheckMs`, default 30 s, and at close, each when worth it; see IndexKeeper): a process started
   * again on the same folder reads from Kafka only what came after its snapshot.
   */
  readonly persist?: boolean;
  readonly snapshotCheckMs?: number;
};

export const DEFAULT_INDEX_MEMORY_BYTES = 256 << 20;

/** SASL authentication to the brokers (over TLS, except on a trusted network). */
export type KafkaSaslOptions = {
  readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  readonly username: string;
  readonly password: string;
};

/** TLS to the brokers: true trusts the system's CAs; else the CA to trust and, for mutual TLS, this client's certificate and key, as PEM. */
export type KafkaTlsOptions = true | { readonly ca?: string; readonly cert?: string; readonly key?: string };

export type KafkaEventLogOptions = {
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly tls?: KafkaTlsOptions;
  readonly sasl?: KafkaSaslOptions;
  readonly topics?: KafkaTopicsOptions;
  /** Consumer group id = groupPrefix + subscription name (default 'opal.'). */
  readonly groupPrefix?: string;
  /** Handler retries and dead-lettering for subscriptions. */
  readonly retry?: KafkaRetryOptions;
  /** Appends waiting for the broker at once; further appends wait (backpressure). Default 256. */
  readonly maxInFlightAppends?: number;
  readonly index?: KafkaIndexOptions;
  /** Batch size handed to subscription handlers (default 2000). */
  readonly batchSize?: number;
  readonly connectionTimeoutMs?: number;
  /**
   * False for a process that only reads the log (an export, a replay): it creates no topic, and
   * refuses to connect where the log's topics are missing (a wrong prefix) rather than read an empty
   * log it made itself. Default true.
   */
  readonly createTopics?: boolean;
  /**
   * For `opal log import` only: connects to a log an import left incomplete (see
   * ResolvedTopics.importMarker), which every other process refuses. Default false.
   */
  readonly importing?: boolean;
  /**
   * Opens each connection to a broker (kafkajs's socketFactory), for a proxy or a tunnel on the way;
   * by default a TCP (or TLS) connection straight to the broker.
   */
  readonly socketFactory?: ISocketFactory;
  readonly logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /**
   * Told each time a consumer that crashed with the brokers out of reach is started again (see
   * rejoin.ts): `consumer` is 'index' (the log's index of its topics) or a subscription's name.
   */
  readonly onConsumerRestart?: (consumer: string, error: unknown) => void;
};

export type ResolvedTopics = {
  /** The prefix of every topic name. */
  readonly prefix: string;
  /** The topic of streams whose prefix no domain claims. */
  readonly defaultTopic: string;
  readonly domains: readonly string[];
  readonly topicOf: (streamId: string) => string;
  readonly all: readonly { topic: string; partitions: number }[];
  readonly deadLetter: string;
  /**
   * A topic that exists while an import (opal log import) into this log is under way, or was cut
   * off: the log may hold only part of the file, and nothing but the import connects to it.
   */
  readonly importMarker: string;
  readonly replicationFactor: number;
  readonly configEntries: ITopicConfig['configEntries'];
};

/** Where each stream lives: a pure function of the stream id, so readers and writers agree. */
export function resolveTopics(options: KafkaTopicsOptions = {}): ResolvedTopics {
  const prefix = options.prefix ?? 'opal.';
  const defaultDomain = options.defaultDomain ?? 'events';
  const streamDomains = options.streamDomains ?? {};
  const domains = [...new Set([defaultDomain, ...Object.values(streamDomains)])].sort();
  const partitionsOf = (d: string) => options.partitions?.[d] ?? options.defaultPartitions ?? 3;
  for (const d of domains) {
    if (!/^[A-Za-z0-9._-]+$/.test(d)) throw new Error(`topics.streamDomains: '${d}' is not a valid topic name part`);
    if (!Number.isInteger(partitionsOf(d)) || partitionsOf(d) < 1) throw new Error(`topics.partitions.${d}: must be a positive integer`);
  }
  const replicationFactor = options.replicationFactor ?? 1;
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) throw new Error('topics.replicationFactor: must be a positive integer');
  const topicOfDomain = (d: string) => `${prefix}${d}`;
  return {
    prefix,
    defaultTopic: topicOfDomain(defaultDomain),
    domains,
    topicOf(streamId) {
      return topicOfDomain(streamDomains[streamPrefix(streamId)] ?? defaultDomain);
    },
    all: domains.map((d) => ({ topic: topicOfDomain(d), partitions: partitionsOf(d) })),
    deadLetter: `${prefix}${options.deadLetter ?? 'dead-letter'}`,
    importMarker: `${prefix}import-under-way`,
    replicationFactor,
    // The log is the source of truth: nothing expires, nothing is compacted away.
    configEntries: [
      { name: 'retention.ms', value: '-1' },
      { name: 'retention.bytes', value: '-1' },
      { name: 'cleanup.policy', value: 'delete' },
      // One event may be large (a Datanet version's manifest lists every contribution, ~150 bytes
      // each): the broker's default of 1 MiB would refuse a version of ~7,000 contributions.
      { name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) },
      ...(replicationFactor >= 3 ? [{ name: 'min.insync.replicas', value: '2' }] : []),
    ],
  };
}

/** Largest record batch a domain topic accepts (64 MiB; the broker's request limit is 100 MiB). */
export const MAX_MESSAGE_BYTES = 64 << 20;

/** Cursor key of one partition: `<topic>/<partition>`. */
export const cursorKey = (topic: string, partition: number) => `${topic}/${partition}`;
