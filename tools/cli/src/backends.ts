import { join } from 'node:path';
import { EmbeddedEventLog, type EventLog } from '@opal/event-log';
import { KafkaEventLog, type KafkaEventLogOptions, type KafkaTopicsOptions } from '@opal/event-log-kafka';
import { FileSnapshotStore, MemoryDocumentStore, type DocumentStore, type SnapshotStore } from '@opal/event-sourcing';
import { PackContentStore, type ContentStore } from '@opal/content-store';
import { connectMongo, MongoContentStore, MongoDocumentStore, MongoSnapshotStore } from '@opal/document-store-mongo';
import { ConfigError, clientTlsFiles, liveKafkaTls, reloadingSecureContext, type ClientTlsPem, type KafkaTlsPem, type OpalConfig, type PemFiles } from '@opal/service-runtime';
import type { ServiceName } from '@opal/contracts';
import { services } from './service-registry.js';
import type { Logger } from 'pino';

export type Backends = {
  readonly eventLog: EventLog;
  readonly store: DocumentStore;
  readonly content: ContentStore;
  /** Aggregate snapshots: MongoDB scaled out (shared by the replicas), else the data folder. */
  readonly snapshots: SnapshotStore;
  /** Whether anything lives in the data folder (then one process at a time may use it). */
  readonly usesDataDir: boolean;
  close(): Promise<void>;
};

export const isKafka = (config: OpalConfig) => config.eventLog.startsWith('kafka://');
/** Read models and content in MongoDB: a mongodb:// URL, or mongodb+srv:// (hosts from DNS, as managed clusters give them). */
export const isMongo = (config: OpalConfig) => /^mongodb(\+srv)?:\/\//.test(config.store);

/**
 * The Kafka log's options for this configuration. `serving`: for a process that serves (opal up /
 * serve), which keeps its index across restarts (OPAL_KAFKA_INDEX_PERSIST); a one-off command (an
 * export, a replay, a verify) reads the log whole once and keeps none, so it never holds the folder
 * a service of the same data folder would keep its index in.
 */
export function kafkaOptions(config: OpalConfig, clientId = `opal-${process.pid}`, logger?: Logger, serving = false, tlsFiles?: PemFiles<KafkaTlsPem>): KafkaEventLogOptions {
  const brokers = config.eventLog.slice('kafka://'.length).replace(/\/.*$/, '').split(',').filter(Boolean);
  return {
    brokers,
    clientId,
    // With its files read again while the process runs (kafkaTlsFiles), the client uses them from its next connection.
    tls: tlsFiles ? liveKafkaTls(tlsFiles) : config.kafkaTls && { ca: config.kafkaTls.ca, cert: config.kafkaTls.cert, key: config.kafkaTls.key },
    sasl: config.kafkaSasl,
    topics: { prefix: config.kafkaTopicPrefix, replicationFactor: config.kafkaReplicationFactor, ...platformTopics(config) },
    groupPrefix: config.kafkaTopicPrefix,
    index: { memoryBytes: config.kafkaIndexMemoryBytes, dir: join(config.dataDir, 'kafka-index'), persist: serving && config.kafkaIndexPersist },
    logLevel: config.logLevel === 'debug' || config.logLevel === 'trace' ? 'info' : 'nothing',
    ...(logger ? { onConsumerRestart: (consumer: string, err: unknown) => logger.warn({ err, consumer }, 'kafka out of reach: starting the consumer again') } : {}),
  };
}

/** The domains (topics) whose streams the given services write: the ones a process of them appends to and reads. */
export function kafkaDomainsOf(config: OpalConfig, names: readonly ServiceName[]): string[] {
  const writers = names.filter((n) => services[n].streamPrefixes.length > 0);
  if (config.kafkaTopicLayout === 'single') return writers.length > 0 ? [OTHER_DOMAIN] : [];
  return writers;
}

/** The domains whose commands these services route to their streams' owners (see CommandRouting). */
export function routedDomainsOf(config: OpalConfig, names: readonly ServiceName[]): string[] {
  const routed = names.filter((n) => services[n].routesCommands);
  if (routed.length === 0) return [];
  return config.kafkaTopicLayout === 'single' ? [OTHER_DOMAIN] : routed;
}

/** Domain of the streams no service claims (and of every stream in the single layout). */
const OTHER_DOMAIN = 'events';

/**
 * The platform's topics: one per service that writes streams, named after it, holding the streams
 * whose ids start with its prefixes (`<prefix>ingest` for `datanet-…`), and `<prefix>events` for any
 * other; or, in the single layout, `<prefix>events` for every stream.
 */
function platformTopics(config: OpalConfig): Pick<KafkaTopicsOptions, 'defaultDomain' | 'streamDomains' | 'partitions' | 'defaultPartitions'> {
  const streamDomains: Record<string, string> = {};
  if (config.kafkaTopicLayout === 'domains') {
    for (const [service, { streamPrefixes }] of Object.entries(services)) for (const p of streamPrefixes) streamDomains[p] = service;
  }
  const domains = new Set([OTHER_DOMAIN, ...Object.values(streamDomains)]);
  for (const d of Object.keys(config.kafkaDomainPartitions)) {
    if (!domains.has(d)) throw new ConfigError(`invalid configuration:\n  OPAL_KAFKA_DOMAIN_PARTITIONS: no topic '${d}' in the ${config.kafkaTopicLayout} layout (topics: ${[...domains].sort().join(', ')})`);
  }
  return { defaultDomain: OTHER_DOMAIN, streamDomains, partitions: config.kafkaDomainPartitions, defaultPartitions: config.kafkaPartitions };
}

export async function openEventLog(config: OpalConfig, readOnly = false, logger?: Logger, serving = false, kafkaTls?: PemFiles<KafkaTlsPem>): Promise<EventLog> {
  if (isKafka(config)) return KafkaEventLog.connect({ ...kafkaOptions(config, undefined, logger, serving, kafkaTls), createTopics: !readOnly });
  return EmbeddedEventLog.open(join(config.dataDir, 'log'), readOnly ? { readOnly: true } : { fsync: config.fsync });
}

/**
 * The MongoDB client of this configuration, TLS from its files (OPAL_STORE_TLS_*, or the URL's):
 * with `tlsFiles` (storeTlsFiles, read again while the process runs) each new connection uses what
 * they hold then; without, what was read at start.
 */
export function openMongoClient(config: OpalConfig, tlsFiles?: PemFiles<ClientTlsPem>): ReturnType<typeof connectMongo> {
  const files = tlsFiles ?? (config.storeTls && clientTlsFiles('mongodb', config.storeTls));
  return connectMongo(config.store, files ? { secureContext: reloadingSecureContext(files, config.storeTls?.passphrase) } : {});
}

/** The store's TLS files for a serving process to read again (see watchTls); undefined where none are given. */
export function storeTlsFiles(config: OpalConfig): PemFiles<ClientTlsPem> | undefined {
  return isMongo(config) && config.storeTls ? clientTlsFiles('mongodb', config.storeTls) : undefined;
}

/** The log, read models and content for this process: embedded ones, or Kafka and MongoDB. */
export async function openBackends(config: OpalConfig, logger?: Logger, kafkaTls?: PemFiles<KafkaTlsPem>, storeTls?: PemFiles<ClientTlsPem>): Promise<Backends> {
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const r of opened.reverse()) await r.close();
  };
  try {
    const eventLog = await openEventLog(config, false, logger, true, kafkaTls);
    opened.push(eventLog);
    let store: DocumentStore;
    let content: ContentStore;
    let snapshots: SnapshotStore;
    if (isMongo(config)) {
      // One client (one connection pool) for the read models, the contents and the snapshots;
      // closed after them.
      const client = await openMongoClient(config, storeTls);
      opened.push({ close: () => client.close() });
      store = await MongoDocumentStore.connect({ url: config.store, client });
      content = await MongoContentStore.connect({ url: config.store, client });
      snapshots = await MongoSnapshotStore.connect({ url: config.store, client });
    } else {
      store = new MemoryDocumentStore({ dir: join(config.dataDir, 'state'), snapshotEvery: config.snapshotEvery });
      opened.push(store);
      content = await PackContentStore.open(join(config.dataDir, 'content'), config.fsync);
      opened.push(content);
      snapshots = aggregateSnapshots(config);
    }
    const usesDataDir = !isKafka(config) || !isMongo(config);
    return { eventLog, store, content, snapshots, usesDataDir, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** Aggregate snapshots in the data folder, beside the read models' (`state/`). */
export function aggregateSnapshots(config: OpalConfig): SnapshotStore {
  return new FileSnapshotStore(join(config.dataDir, 'state', 'aggregates'));
}
