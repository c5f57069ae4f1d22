import { MongoClient } from 'mongodb';
import { Kafka, logLevel } from 'kafkajs';
import { dropDb, ensureInfra } from '@opal/test-infra';
import { withOutputOnFailure } from '@opal/testkit';
import { KafkaEventLog } from '@opal/event-log-kafka';
import { kafkaOptions } from '@opal/cli';
import { loadConfig } from '@opal/service-runtime';
import { cleanDigests, comparable, type Append } from './ingest-fixture.js';
import { ServeProcess } from './serve-process.js';

// Fault tests of the scaled-out mode against real processes: `opal serve ingest` on Kafka and
// MongoDB (FerretDB) consumes ingest events appended here through KafkaEventLog; after each fault the
// MongoDB read models' digest must equal one clean pass over the same events (embedded log, memory store).
export const infra = await ensureInfra(['kafka', 'mongo']);
export const skip = infra.skipped ? infra.reason : undefined;
export const brokers = infra.skipped ? '' : infra.endpoints.kafkaBrokers!;
export const mongoBase = infra.skipped ? '' : infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, '');
// 50,000 by default; OPAL_FAULT_EVENTS=N changes it.
export const BIG = Number(process.env.OPAL_FAULT_EVENTS ?? 50_000);
export const SMALL = 10_000;
export const run = `${process.pid}-${Date.now()}`;
export const groupsOf = (prefix: string) => [`${prefix}projection.ingest.catalog`, `${prefix}projection.ingest.contributions`];

export function scenario(label: string) {
  const prefix = `fault-${label}-${run}.`;
  const url = `${mongoBase}/opal_fault_${label}_${process.pid}`;
  return { prefix, url, env: { OPAL_EVENT_LOG: `kafka://${brokers}`, OPAL_STORE: url, OPAL_KAFKA_TOPIC_PREFIX: prefix } };
}

/** The log as the platform's processes open it (its topics per service) with this topic prefix. */
export function platformLog(kafkaBrokers: string, prefix: string): Promise<KafkaEventLog> {
  return KafkaEventLog.connect(kafkaOptions(loadConfig({ OPAL_EVENT_LOG: `kafka://${kafkaBrokers}`, OPAL_KAFKA_TOPIC_PREFIX: prefix }), `opal-test-${process.pid}`));
}

export async function contributions(url: string): Promise<number> {
  const client = await new MongoClient(url).connect();
  try {
    return await client.db().collection('ingest_contributions').countDocuments({});
  } finally {
    await client.close();
  }
}

/** Records below a read model's stored checkpoint, all partitions together (what a restart resumes after). */
export async function checkpointed(url: string, projection: string): Promise<number> {
  const client = await new MongoClient(url).connect();
  try {
    const c = await client.db().collection<{ _id: string; at?: Record<string, number> }>('_checkpoints').findOne({ _id: projection });
    return Object.values(c?.at ?? {}).reduce((n, o) => n + o, 0);
  } finally {
    await client.close();
  }
}

/** Records in a topic, all partitions together. */
export async function recordsIn(kafkaBrokers: string, topic: string): Promise<number> {
  const admin = new Kafka({ brokers: [kafkaBrokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

export async function untilContributions(url: string, atLeast: number, timeoutMs = 180_000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await contributions(url)) < atLeast) {
    if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} contributions in ${url} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * What every fault scenario shares: `serve` starts `opal serve ingest` (killed at the end),
 * `expected` is the digest of one clean embedded pass over the same events (computed once per
 * fixture size), `cleanups` drops what a scenario created.
 */
export function faultHarness() {
  const processes: ServeProcess[] = [];
  const tasks: (() => Promise<void>)[] = [];
  const clean = new Map<number, Promise<ReturnType<typeof comparable>>>();
  return {
    serve(env: Record<string, string>): ServeProcess {
      const p = new ServeProcess('ingest', env);
      processes.push(p);
      return p;
    },
    /** Runs the body; a failure's message gets the end of what each process served so far wrote. */
    explained<T>(body: () => Promise<T>): Promise<T> {
      return withOutputOnFailure(() => Object.fromEntries(processes.map((p, i) => [`opal serve ingest #${i + 1}`, p])), body);
    },
    expected(appends: Append[], n: number) {
      if (!clean.has(n)) clean.set(n, cleanDigests(appends).then(comparable));
      return clean.get(n)!;
    },
    cleanups: {
      push: (...fns: (() => Promise<void>)[]) => void tasks.push(...fns),
      async run() {
        for (const p of processes) await p.kill();
        for (const t of tasks) await t().catch(() => {});
      },
    },
  };
}
