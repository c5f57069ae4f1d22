import { join } from 'node:path';
import { EmbeddedEventLog, type EventLog } from '@opal/event-log';
import { KafkaEventLog, type KafkaEventLogOptions } from '@opal/event-log-kafka';
import { MemoryDocumentStore, type DocumentStore } from '@opal/event-sourcing';
import { PackContentStore, type ContentStore } from '@opal/content-store';
import { MongoContentStore, MongoDocumentStore } from '@opal/document-store-mongo';
import type { OpalConfig } from '@opal/service-runtime';

export type Backends = {
  readonly eventLog: EventLog;
  readonly store: DocumentStore;
  readonly content: ContentStore;
  /** Whether anything lives in the data folder (then one process at a time may use it). */
  readonly usesDataDir: boolean;
  close(): Promise<void>;
};

export const isKafka = (config: OpalConfig) => config.eventLog.startsWith('kafka://');

export function kafkaOptions(config: OpalConfig, clientId = `opal-${process.pid}`): KafkaEventLogOptions {
  const brokers = config.eventLog.slice('kafka://'.length).replace(/\/.*$/, '').split(',').filter(Boolean);
  return {
    brokers,
    clientId,
    topics: { prefix: config.kafkaTopicPrefix, defaultPartitions: config.kafkaPartitions, replicationFactor: config.kafkaReplicationFactor },
    groupPrefix: config.kafkaTopicPrefix,
    index: { memoryBytes: config.kafkaIndexMemoryBytes, dir: join(config.dataDir, 'kafka-index') },
    logLevel: config.logLevel === 'debug' || config.logLevel === 'trace' ? 'info' : 'nothing',
  };
}

export async function openEventLog(config: OpalConfig, readOnly = false): Promise<EventLog> {
  if (isKafka(config)) return KafkaEventLog.connect(kafkaOptions(config));
  return EmbeddedEventLog.open(join(config.dataDir, 'log'), readOnly ? { readOnly: true } : { fsync: config.fsync });
}

/** The log, read models and content for this process: embedded ones, or Kafka and MongoDB. */
export async function openBackends(config: OpalConfig): Promise<Backends> {
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const r of opened.reverse()) await r.close();
  };
  try {
    const eventLog = await openEventLog(config);
    opened.push(eventLog);
    let store: DocumentStore;
    let content: ContentStore;
    if (config.store.startsWith('mongodb://')) {
      store = await MongoDocumentStore.connect({ url: config.store });
      opened.push(store);
      content = await MongoContentStore.connect({ url: config.store });
      opened.push(content);
    } else {
      store = new MemoryDocumentStore({ dir: join(config.dataDir, 'state'), snapshotEvery: config.snapshotEvery });
      opened.push(store);
      content = await PackContentStore.open(join(config.dataDir, 'content'), config.fsync);
      opened.push(content);
    }
    const usesDataDir = !isKafka(config) || !config.store.startsWith('mongodb://');
    return { eventLog, store, content, usesDataDir, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
