import { Kafka, logLevel, type Admin, type LogEntry, type SASLOptions } from 'kafkajs';
import { EventLogError } from '@opal/event-log';
import { cursorKey, type KafkaEventLogOptions, type ResolvedTopics } from './kafka-event-log.options.js';
import { checkKeepsEveryEvent } from './topic-retention.js';

const LEVELS = { nothing: logLevel.NOTHING, error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO, debug: logLevel.DEBUG };

/** A kafkajs client for these options; `retries: 0` for one that asks once (each request, and connecting). */
export function createKafka(options: KafkaEventLogOptions, retries = 8): Kafka {
  const level = LEVELS[options.logLevel ?? (process.env.OPAL_KAFKA_LOG_LEVEL as keyof typeof LEVELS | undefined) ?? 'error'];
  const tls = options.tls;
  return new Kafka({
    clientId: options.clientId ?? 'opal',
    brokers: [...options.brokers],
    ssl: sslOf(tls),
    sasl: options.sasl ? (options.sasl as SASLOptions) : undefined,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    socketFactory: options.socketFactory,
    logLevel: level,
    // kafkajs retries every request with exponential backoff on its own; these bound it.
    retry: { initialRetryTime: 100, maxRetryTime: 5000, retries },
    logCreator: () => (entry: LogEntry) => {
      if (entry.level > level) return;
      const { message, ...rest } = entry.log;
      process.stderr.write(`[kafkajs ${entry.namespace}] ${message} ${JSON.stringify(rest)}\n`);
    },
  });
}

/**
 * kafkajs's TLS settings for `tls`, read when each connection to a broker is opened (kafkajs hands
 * this object to tls.connect as it is): where `tls` reads files renewed on disk (a Secret rotated),
 * the next connection uses them.
 */
function sslOf(tls: KafkaEventLogOptions['tls']) {
  if (tls === undefined || tls === true) return tls;
  return {
    get ca() {
      return tls.ca === undefined ? undefined : [tls.ca];
    },
    get cert() {
      return tls.cert;
    },
    get key() {
      return tls.key;
    },
  };
}

/**
 * Why connecting failed, as an EventLogError naming the setting at fault: credentials the brokers
 * refused (`sasl`), a certificate this client does not trust (`tls`), or the brokers out of reach.
 */
export function connectError(options: KafkaEventLogOptions, error: unknown): EventLogError {
  if (error instanceof EventLogError) return error;
  const at = `kafka at ${options.brokers.join(',')}`;
  const name = (error as { name?: string }).name;
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'KafkaJSSASLAuthenticationError') {
    return new EventLogError('INVALID_ARGUMENT', `sasl: ${at} refused user '${options.sasl?.username ?? ''}' (${options.sasl?.mechanism ?? 'no mechanism'}): ${message}`);
  }
  if (/certificate|SSL routines|TLS/i.test(message) && options.tls) {
    return new EventLogError('UNAVAILABLE', `tls: ${at}: ${message} (is the brokers' CA the one trusted?)`);
  }
  return new EventLogError('UNAVAILABLE', `${at}: ${String(error)}`);
}

/**
 * Refuses a log an import left incomplete (its marker topic there) unless `importing`. Creates the
 * domain topics and the dead-letter topic when missing (with `create` false, for a
 * process that only reads, refuses a missing domain topic instead); existing topics are left as they
 * are, but must match this process's layout and partition counts (else INVALID_ARGUMENT), and must
 * keep every event and still hold every one given them (else FAILED_PRECONDITION; see
 * checkKeepsEveryEvent).
 */
export async function ensureTopics(admin: Admin, topics: ResolvedTopics, create = true, importing = false): Promise<void> {
  const existing = new Set(await admin.listTopics());
  if (existing.has(topics.importMarker) && !importing) {
    throw new EventLogError(
      'FAILED_PRECONDITION',
      `topics: ${topics.importMarker} is there: an import into this log (opal log import) is under way or was cut off, so the log may hold only part of its file; finish it with \`opal log import FILE --resume\` (or give it up: delete the topics under '${topics.prefix}' and import again)`,
    );
  }
  await checkLayout(admin, topics, existing);
  if (create) await createMissingTopics(admin, topics, existing);
  else {
    const missing = topics.all.map((t) => t.topic).filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new EventLogError('FAILED_PRECONDITION', `topics: ${missing.join(', ')} not found, so there is no log here to read (is the topic prefix '${topics.prefix}', OPAL_KAFKA_TOPIC_PREFIX, the one it was written under?); nothing was created`);
    }
  }
  await checkPartitionCounts(admin, topics);
  await checkKeepsEveryEvent(admin, topics);
}

/**
 * A stream's topic follows from the topic layout and the stream domains, so a process that maps
 * streams otherwise than the log was written would look for a stream, and append to it, in another
 * topic, where its version starts again from zero. The topics under the prefix show how the log was
 * written, and connect refuses the two mix-ups of `OPAL_KAFKA_TOPIC_LAYOUT`:
 * - every stream in the default topic here, while topics per domain lie beside it (names of the
 *   prefix plus one word: a deployment under a longer prefix, such as `opal.eu.`, is not counted);
 * - topics per domain here, while only the default topic exists and it holds events.
 */
async function checkLayout(admin: Admin, topics: ResolvedTopics, existing: ReadonlySet<string>): Promise<void> {
  const others = topics.all.filter((t) => t.topic !== topics.defaultTopic).map((t) => t.topic);
  if (others.length === 0) {
    const ours = new Set([topics.defaultTopic, topics.deadLetter, topics.importMarker]);
    const perDomain = topics.prefix === '' ? [] : [...existing].filter((t) => t.startsWith(topics.prefix) && !ours.has(t) && /^[A-Za-z0-9_-]+$/.test(t.slice(topics.prefix.length))).sort();
    if (perDomain.length > 0) {
      throw new EventLogError(
        'INVALID_ARGUMENT',
        `topics: ${perDomain.join(', ')} lie beside ${topics.defaultTopic}: the log was written with topics per domain, and with every stream in one topic (OPAL_KAFKA_TOPIC_LAYOUT=single) this process would not see their streams`,
      );
    }
    return;
  }
  if (!existing.has(topics.defaultTopic) || others.some((t) => existing.has(t))) return;
  const written = [...(await highWatermarks(admin, topics.defaultTopic)).values()].some((high) => high > 0);
  if (!written) return; // created, never written: nothing to lose sight of
  throw new EventLogError(
    'INVALID_ARGUMENT',
    `topics: ${topics.defaultTopic} holds events and ${others.join(', ')} do not exist: the log was written with every stream in ${topics.defaultTopic} (OPAL_KAFKA_TOPIC_LAYOUT=single), and read with topics per domain its streams would start again from version zero`,
  );
}

/**
 * A stream's partition is its key's hash modulo the topic's partitions, so every process must count
 * the same partitions as the topic has: one that counted otherwise would look for a stream, and
 * append to it, in another partition, where its version starts again from zero. A topic already
 * there with another count than configured (another setting, or partitions added to it since) is
 * refused, naming the topic and both counts.
 */
async function checkPartitionCounts(admin: Admin, topics: ResolvedTopics): Promise<void> {
  const { topics: found } = await admin.fetchTopicMetadata({ topics: topics.all.map((t) => t.topic) });
  const differing: string[] = [];
  for (const t of topics.all) {
    const actual = found.find((f) => f.name === t.topic)?.partitions.length;
    if (actual !== undefined && actual !== t.partitions) differing.push(`${t.topic} has ${actual} partitions but ${t.partitions} are configured`);
  }
  if (differing.length > 0) {
    throw new EventLogError('INVALID_ARGUMENT', `topics: ${differing.join(', ')}; a stream's partition follows from the count, so a topic in use keeps its count (configure what it has: OPAL_KAFKA_PARTITIONS, or OPAL_KAFKA_DOMAIN_PARTITIONS for one topic)`);
  }
}

async function createMissingTopics(admin: Admin, topics: ResolvedTopics, existing: ReadonlySet<string>): Promise<void> {
  const wanted = [...topics.all, { topic: topics.deadLetter, partitions: 1 }].filter((t) => !existing.has(t.topic));
  if (wanted.length === 0) return;
  try {
    await createTopicsWithLeaders(admin, {
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

/**
 * Creates topics, then waits until every partition has a leader. kafkajs's own wait for leaders
 * (`waitForLeaders: true`) gives up on UNKNOWN_TOPIC_OR_PARTITION, which a broker started a moment
 * ago answers while the new topic's metadata spreads, and lets that rejection escape unhandled,
 * which ends the process. This waits by asking for the metadata again until it shows leaders.
 */
export async function createTopicsWithLeaders(admin: Admin, options: Omit<Parameters<Admin['createTopics']>[0], 'waitForLeaders'>, timeoutMs = 30_000): Promise<void> {
  await admin.createTopics({ ...options, waitForLeaders: false });
  const topics = options.topics.map((t) => t.topic);
  const until = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const led = await admin
      .fetchTopicMetadata({ topics })
      .then((m) => m.topics.length === topics.length && m.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
      .catch(() => false);
    if (led) return;
    if (Date.now() > until) throw new EventLogError('UNAVAILABLE', `topics ${topics.join(', ')}: no leader for every partition after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/**
 * First offset still held (`low`) and high watermark (`high`, next offset to be written) of every
 * partition of `topic`. kafkajs retries this only on UNKNOWN_TOPIC_OR_PARTITION; other retriable
 * answers (NOT_LEADER_FOR_PARTITION while a partition's leader takes over, as on a broker started a
 * moment ago, or in an election) are retried here, for up to about 10 s.
 */
export async function partitionOffsets(admin: Admin, topic: string): Promise<{ partition: number; low: number; high: number }[]> {
  for (let attempt = 1, delay = 100; ; attempt++, delay = Math.min(delay * 2, 2000)) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }));
    } catch (error) {
      if (!(error as { retriable?: boolean }).retriable || attempt >= 8) throw error;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** High watermark (next offset to be written) of every partition of `topic` (see partitionOffsets). */
export async function highWatermarks(admin: Admin, topic: string): Promise<Map<number, number>> {
  return new Map((await partitionOffsets(admin, topic)).map((o) => [o.partition, o.high]));
}

/**
 * The group's committed offset of every partition of these topics, by cursor key; -1 where it has
 * committed none.
 */
export async function committedOffsets(admin: Admin, groupId: string, topics: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const t of await admin.fetchOffsets({ groupId, topics: [...topics] })) {
    for (const p of t.partitions) out.set(cursorKey(t.topic, p.partition), Number(p.offset));
  }
  return out;
}

/** Per partition of these topics, by cursor key, the offset after its last durable record. */
export async function logEnds(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const topic of topics) for (const [partition, high] of await highWatermarks(admin, topic)) out.set(cursorKey(topic, partition), high);
  return out;
}
