import { Kafka, logLevel, type Admin, type LogEntry } from 'kafkajs';
import { EventLogError } from '@opal/event-log';
import type { KafkaEventLogOptions, ResolvedTopics } from './kafka-event-log.options.js';

const LEVELS = { nothing: logLevel.NOTHING, error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO, debug: logLevel.DEBUG };

export function createKafka(options: KafkaEventLogOptions): Kafka {
  const level = LEVELS[options.logLevel ?? (process.env.OPAL_KAFKA_LOG_LEVEL as keyof typeof LEVELS | undefined) ?? 'error'];
  return new Kafka({
    clientId: options.clientId ?? 'opal',
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    logLevel: level,
    // kafkajs retries every request with exponential backoff on its own; these bound it.
    retry: { initialRetryTime: 100, maxRetryTime: 5000, retries: 8 },
    logCreator: () => (entry: LogEntry) => {
      if (entry.level > level) return;
      const { message, ...rest } = entry.log;
      process.stderr.write(`[kafkajs ${entry.namespace}] ${message} ${JSON.stringify(rest)}\n`);
    },
  });
}

/** Creates the domain topics and the dead-letter topic when missing; existing topics are left alone. */
export async function ensureTopics(admin: Admin, topics: ResolvedTopics): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const wanted = [...topics.all, { topic: topics.deadLetter, partitions: 1 }].filter((t) => !existing.has(t.topic));
  if (wanted.length === 0) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: wanted.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: topics.replicationFactor,
        configEntries: topics.configEntries,
      })),
    });
  } catch (error) {
    // Another process may have created them between listTopics and createTopics.
    const now = new Set(await admin.listTopics());
    if (wanted.every((t) => now.has(t.topic))) return;
    // The broker's reasons per topic (a replication factor above the brokers there are, ...).
    const reasons = (error as { errors?: unknown }).errors;
    if (!Array.isArray(reasons) || reasons.length === 0) throw error;
    const detail = [...new Set(reasons.map((e: { message?: unknown }) => String(e?.message ?? e)))].join('; ');
    throw new EventLogError('INVALID_ARGUMENT', `topics: creating ${wanted.map((t) => t.topic).join(', ')} with replication factor ${topics.replicationFactor} failed: ${detail}`);
  }
}

/** High watermark (next offset to be written) of every partition of `topic`. */
export async function highWatermarks(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}
