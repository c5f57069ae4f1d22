import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { deleteTopics, ensureInfra } from '@opal/test-infra';
import { createTopicsWithLeaders, KafkaEventLog } from '@opal/event-log-kafka';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog, type Cursor, type StoredEvent } from '@opal/event-log';
import { MongoDocumentStore } from '@opal/document-store-mongo';
import { ProjectionRunner, REMOTE_STORE_BATCH, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { ingestContributionsProjection } from '@opal/ingest';
import { intOption, type BenchContext, type BenchSuite } from './harness.js';
import { benchBrokers } from './kafka-bench.js';
import { appendAll, ingestAppends } from '../test/scale-out/ingest-fixture.js';
import type { ProjectionWorkerData } from './pipeline/projection.worker.js';
import { CpuMeter, portOf } from './pipeline/cpu-time.js';

// npm run bench -- pipeline [--json] [--events=50000] [--streams=500] [--partitions=3] [--batch=10] [--in-flight=256] [--e2e-events=50000] [--warmup=20000]
// Both measurements run against the same local broker in the same run:
// - raw_kafkajs_events_per_s: kafkajs alone (as installed, with scripts/patch-dependencies.mjs's
//   edit, which the adapter runs on too), idempotent producer (acks=all) into one topic while a
//   consumer group reads it, from the first send to the last message consumed; the better of two
//   passes (and its CPU), since it runs first, on a broker that may have just started;
// - adapter_events_per_s: KafkaEventLog appends (expected version checked, read back and verified)
//   while a subscription receives them, from the first append to the last event handled.
// - end_to_end_events_per_s: ingest events appended through KafkaEventLog (40 streams, 10 events
//   per append) while a ProjectionRunner on a worker thread (ingest.contributions: three documents
//   per event) applies them into MongoDB, from the first append to the last event committed there,
//   after a warm-up set of events (other Datanets, untimed) has gone the same way;
//   ratio_to_raw = end_to_end / raw kafkajs. end_to_end_append_events_per_s: the same events over
//   the time their appends took (the projection running beside them), which end to end cannot beat.
// - store_only_events_per_s: the same events (read beforehand from an embedded log) applied by the
//   same ProjectionRunner into MongoDB in batches of the most it takes from a remote store, with no
//   Kafka and nothing else running: the most the end-to-end pipeline could reach through this store
//   on this machine (store_only_ratio_to_raw = store only / raw kafkajs).
// - *_cpu_us_per_event: CPU time per event over the same timed window, of this process (all its
//   threads) and of the local broker and MongoDB-wire server (found by their ports; left out when not
//   local), each in the params. end_to_end_cpu_ceiling_events_per_s = cores / CPU per event: the most
//   end to end could reach with every core busy, whatever the scheduling; cpu_ceiling_ratio_to_raw
//   sets it against raw kafkajs.
// - least_cpu_us_per_event: raw kafkajs's CPU per event plus store only's, the least any pipeline
//   from append to MongoDB pays here; least_cpu_bound_ratio_to_raw = (cores / that) / raw kafkajs, the
//   highest ratio_to_raw this machine allows, however lean the adapter and the projection.

/** Counts delivered events; `reached(n)` resolves once n have been delivered in all. */
function deliveries() {
  let seen = 0;
  let waiting: { n: number; resolve: () => void }[] = [];
  return {
    get seen() {
      return seen;
    },
    add(k: number): void {
      seen += k;
      waiting = waiting.filter((w) => (seen >= w.n ? (w.resolve(), false) : true));
    },
    reached(n: number): Promise<void> {
      return seen >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }));
    },
  };
}

export const run: BenchSuite = async (ctx) => {
  const brokers = await benchBrokers(ctx);
  if (!brokers) return;
  const events = intOption(ctx, 'events', 50_000);
  const streams = intOption(ctx, 'streams', 500);
  const partitions = intOption(ctx, 'partitions', 3);
  const perAppend = intOption(ctx, 'batch', 10);
  const inFlight = intOption(ctx, 'in-flight', 256);
  const warmup = intOption(ctx, 'warmup', 20_000);
  const payload = new Uint8Array(160).fill(42);
  const tag = `bench-${process.pid}-${Date.now()}`;
  const params = { events, warmup_events: warmup, partitions, streams, events_per_append: perAppend, payload_bytes: payload.length, max_in_flight_appends: inFlight };

  const servers = { kafka: portOf(brokers[0]!) };
  const { rate: raw, cpu: rawCpu } = await rawKafkajs(ctx, brokers, `${tag}-raw`, events, warmup, partitions, payload, servers);
  ctx.report({ metric: 'raw_kafkajs_events_per_s', value: Math.round(raw), unit: 'events/s', params });
  ctx.report({ metric: 'raw_kafkajs_cpu_us_per_event', ...cpuPerEvent(rawCpu, events), params: { ...params, ...perEventParams(rawCpu, events) } });
  const adapter = await throughAdapter(ctx, brokers, tag, { events, warmup, streams, partitions, perAppend, inFlight }, payload);
  ctx.report({ metric: 'adapter_events_per_s', value: Math.round(adapter), unit: 'events/s', params });
  ctx.report({ metric: 'adapter_ratio_to_raw', value: Math.round((adapter / raw) * 1000) / 1000, unit: 'ratio', params });
  const mongo = await ensureInfra(['mongo']);
  if (!mongo.skipped) {
    const e2eEvents = intOption(ctx, 'e2e-events', 50_000);
    const withMongo = { ...servers, mongodb: portOf(mongo.endpoints.mongoUrl!) };
    const { rate: e2e, appendRate, completed, cpu } = await endToEnd(ctx, brokers, mongo.endpoints.mongoUrl!, `${tag}-e2e`, e2eEvents, warmup, partitions, withMongo);
    const e2eParams = { events: e2eEvents, warmup_events: warmup, partitions, projection: 'ingest.contributions', store: 'mongodb', completed };
    ctx.report({ metric: 'end_to_end_events_per_s', value: Math.round(e2e), unit: 'events/s', params: e2eParams });
    ctx.report({ metric: 'ratio_to_raw', value: Math.round((e2e / raw) * 1000) / 1000, unit: 'ratio', params: e2eParams });
    // End to end ends after the last append: the appends alone, with the projection beside them.
    ctx.report({ metric: 'end_to_end_append_events_per_s', value: Math.round(appendRate), unit: 'events/s', params: e2eParams });
    const perEvent = cpuPerEvent(cpu, e2eEvents);
    const cores = availableParallelism();
    ctx.report({ metric: 'end_to_end_cpu_us_per_event', ...perEvent, params: { ...e2eParams, ...perEventParams(cpu, e2eEvents) } });
    const ceiling = (cores * 1e6) / perEvent.value;
    ctx.report({ metric: 'end_to_end_cpu_ceiling_events_per_s', value: Math.round(ceiling), unit: 'events/s', params: { ...e2eParams, cores } });
    ctx.report({ metric: 'cpu_ceiling_ratio_to_raw', value: Math.round((ceiling / raw) * 1000) / 1000, unit: 'ratio', params: { ...e2eParams, cores } });
    ctx.progress(`end to end: half of raw kafkajs allows ${((cores * 1e6) / (raw / 2)).toFixed(1)} µs of CPU per event on ${cores} cores; it took ${perEvent.value}`);
    const { rate: alone, cpu: aloneCpu } = await storeOnly(ctx, mongo.endpoints.mongoUrl!, `${tag}-store`, e2eEvents, warmup, withMongo);
    const aloneParams = { events: e2eEvents, warmup_events: warmup, projection: 'ingest.contributions', store: 'mongodb', events_per_batch: REMOTE_STORE_BATCH };
    ctx.report({ metric: 'store_only_events_per_s', value: Math.round(alone), unit: 'events/s', params: aloneParams });
    ctx.report({ metric: 'store_only_ratio_to_raw', value: Math.round((alone / raw) * 1000) / 1000, unit: 'ratio', params: aloneParams });
    const aloneCpuPerEvent = cpuPerEvent(aloneCpu, e2eEvents);
    ctx.report({ metric: 'store_only_cpu_us_per_event', ...aloneCpuPerEvent, params: { ...aloneParams, ...perEventParams(aloneCpu, e2eEvents) } });
    // Any pipeline from append to read model does at least what raw kafkajs does (produce and
    // consume each event) and what store only does (apply it in MongoDB): the sum of the two, on
    // every core, bounds end to end from above on this machine, however lean the rest.
    const floor = cpuPerEvent(rawCpu, events).value + aloneCpuPerEvent.value;
    const bound = (cores * 1e6) / floor;
    const boundParams = { ...e2eParams, cores, raw_kafkajs_us: cpuPerEvent(rawCpu, events).value, store_only_us: aloneCpuPerEvent.value };
    ctx.report({ metric: 'least_cpu_us_per_event', value: Math.round(floor * 10) / 10, unit: 'µs/event', params: boundParams });
    ctx.report({ metric: 'least_cpu_bound_ratio_to_raw', value: Math.round((bound / raw) * 1000) / 1000, unit: 'ratio', params: boundParams });
  }
  await deleteTopics(brokers, tag);
};

type CpuMs = Record<string, number>;

/** All processes' CPU time per event, in microseconds. */
function cpuPerEvent(cpu: CpuMs, events: number): { value: number; unit: string } {
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  return { value: Math.round((total * 10_000) / events) / 10, unit: 'µs/event' };
}

/** Each process's share, as params: node_us, kafka_us, mongodb_us. */
function perEventParams(cpu: CpuMs, events: number): Record<string, number> {
  return Object.fromEntries(Object.entries(cpu).map(([name, ms]) => [`${name}_us`, Math.round((ms * 10_000) / events) / 10]));
}

async function rawKafkajs(
  ctx: BenchContext,
  brokers: string[],
  topic: string,
  events: number,
  warmup: number,
  partitions: number,
  payload: Uint8Array,
  servers: Record<string, number | undefined>,
): Promise<{ rate: number; cpu: CpuMs }> {
  const kafka = new Kafka({ brokers, clientId: 'bench-raw', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsWithLeaders(admin, { topics: [{ topic, numPartitions: partitions }] });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic, fromBeginning: true });
  const delivered = deliveries();
  const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
  await consumer.run({ eachBatch: async ({ batch }) => delivered.add(batch.messages.length) });
  await joined; // steady state: group joins are not part of the throughput
  const value = Buffer.from(payload);
  const send = async (count: number) => {
    const chunk = 1000;
    for (let i = 0; i < count; i += chunk) {
      const messages = Array.from({ length: Math.min(chunk, count - i) }, (_, j) => ({ key: `s-${(i + j) % 500}`, value }));
      await producer.send({ topic, acks: -1, messages });
    }
  };
  // Steady state, as for the other two: a warm-up set first, untimed.
  await send(warmup);
  await delivered.reached(warmup);
  // The better of two timed passes: this runs first, and on a broker started a moment before, the
  // first pass meets a JVM not yet compiled (58,000 events/s where a warm broker gives 90,000 and
  // more), which would flatter every ratio to it.
  let best: { rate: number; cpu: CpuMs } | undefined;
  for (let pass = 1, sent = warmup; pass <= 2; pass++, sent += events) {
    const meter = new CpuMeter(servers);
    meter.start();
    const t0 = performance.now();
    await send(events);
    await delivered.reached(sent + events);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = meter.stop();
    ctx.progress(`raw kafkajs, pass ${pass}: ${events} events in ${seconds.toFixed(2)} s`);
    if (!best || events / seconds > best.rate) best = { rate: events / seconds, cpu };
  }
  await Promise.all([consumer.disconnect(), producer.disconnect()]);
  await admin.disconnect();
  return best!;
}

async function throughAdapter(
  ctx: BenchContext,
  brokers: string[],
  tag: string,
  shape: { events: number; warmup: number; streams: number; partitions: number; perAppend: number; inFlight: number },
  payload: Uint8Array,
): Promise<number> {
  const { events, warmup, streams, partitions, perAppend, inFlight } = shape;
  const log = await KafkaEventLog.connect({
    brokers,
    clientId: 'bench-adapter',
    // kafkajs's own lines (a leader moving right after a topic is made, retried) would cut into the table.
    logLevel: 'nothing',
    topics: { prefix: `${tag}.`, defaultPartitions: partitions },
    groupPrefix: `${tag}.`,
    maxInFlightAppends: inFlight,
  });
  const delivered = deliveries();
  const sub = log.subscribe({ name: 'bench', from: 'beginning', handler: (batch) => delivered.add(batch.length) });
  const batch = Array.from({ length: perAppend }, () => ({ type: 'BenchEvent', payload, occurredAt: 1_700_000_000_000 }));
  // Steady state, as for raw kafkajs: the subscription has joined and the adapter's index is live.
  await sub.caughtUp();
  await log.streamVersion('bench-warmup');
  let appended = 0;
  // Each stream appends in sequence with its expected version; the streams run concurrently.
  const appendAll = (prefix: string, count: number) =>
    Promise.all(
      Array.from({ length: streams }, async (_, s) => {
        const id = `${prefix}-${s}`;
        for (let i = 0; (i * streams + s) * perAppend < count; i++) {
          await log.append(id, batch, { expectedVersion: i * perAppend, producer: 'bench' });
          appended += perAppend;
        }
      }),
    );
  await appendAll('bench-warmup', warmup); // untimed
  await delivered.reached(warmup);
  const base = delivered.seen;
  const t0 = performance.now();
  const iv = process.env.BENCH_TRACE ? setInterval(() => ctx.progress(`${((performance.now() - t0) / 1000).toFixed(1)} s: appended ${appended}, seen ${delivered.seen - base}`), 1000) : undefined;
  await appendAll('bench', events);
  await delivered.reached(base + events);
  clearInterval(iv);
  const seconds = (performance.now() - t0) / 1000;
  const seen = delivered.seen - base;
  ctx.progress(`adapter: ${seen} events in ${seconds.toFixed(2)} s`);
  await sub.stop();
  await log.close();
  return seen / seconds;
}

/**
 * The producing side appends here; the consuming side (ingest.contributions into MongoDB) runs on a
 * worker thread, as it runs in its own process with `opal serve`. Bounded: after `limitS` seconds it
 * reports the rate so far, with completed false.
 */
async function endToEnd(
  ctx: BenchContext,
  brokers: string[],
  mongoUrl: string,
  tag: string,
  events: number,
  warmup: number,
  partitions: number,
  servers: Record<string, number | undefined>,
  limitS = 120,
): Promise<{ rate: number; appendRate: number; completed: boolean; cpu: CpuMs }> {
  const url = mongoUrl.replace(/\/[^/]*$/, `/${tag.replace(/[^A-Za-z0-9_]/g, '_')}`);
  const log = await KafkaEventLog.connect({ brokers, clientId: 'bench-e2e', logLevel: 'nothing', topics: { prefix: `${tag}.`, defaultPartitions: partitions }, groupPrefix: `${tag}.` });
  const data: ProjectionWorkerData = { brokers, mongoUrl: url, tag, partitions };
  const worker = new Worker(new URL('./pipeline/projection.worker.js', import.meta.url), { workerData: data });
  const replies: ((m: { applied?: number; ready?: boolean; stopped?: boolean }) => void)[] = [];
  worker.on('message', (m) => replies.shift()?.(m));
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  failed.catch(() => {}); // raced below; a late error must not go unhandled
  const next = () => Promise.race([new Promise<{ applied?: number; ready?: boolean; stopped?: boolean }>((r) => replies.push(r)), failed]);
  await next(); // ready: joined its group, caught up
  const applied = async () => {
    const reply = next();
    worker.postMessage('applied');
    return (await reply).applied ?? 0;
  };
  // Steady state, as a long-running service is: both sides first carry a warm-up set of events
  // (Datanets of their own, not timed) until their code is compiled and optimised.
  const warm = ingestAppends(warmup, 'warmup-');
  const warmed = warm.reduce((n, a) => n + a.events.length, 0);
  const w0 = performance.now();
  await appendAll(log, warm, { parallel: 40 });
  while ((await applied()) < warmed && performance.now() - w0 < limitS * 1000) await new Promise((r) => setTimeout(r, 20));
  const base = await applied();
  ctx.progress(`end to end: warm-up of ${warmed} events applied in ${((performance.now() - w0) / 1000).toFixed(2)} s`);
  const appends = ingestAppends(events);
  const expected = appends.reduce((n, a) => n + a.events.length, 0);
  const meter = new CpuMeter(servers);
  meter.start();
  const t0 = performance.now();
  await appendAll(log, appends, { parallel: 40 });
  const appendSeconds = (performance.now() - t0) / 1000;
  ctx.progress(`end to end: ${expected} events appended in ${appendSeconds.toFixed(2)} s, ${(await applied()) - base} applied by then`);
  let done = 0;
  while ((done = (await applied()) - base) < expected && performance.now() - t0 < limitS * 1000) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = meter.stop();
  done = Math.min(done, expected);
  ctx.progress(`end to end: ${done} of ${expected} events applied into MongoDB in ${seconds.toFixed(2)} s`);
  const stopped = next();
  worker.postMessage('stop');
  await stopped;
  await worker.terminate();
  await log.close();
  return { rate: done / seconds, appendRate: expected / appendSeconds, completed: done >= expected, cpu };
}

/**
 * The projection's side alone: the end-to-end events, read beforehand from an embedded log, applied
 * by a ProjectionRunner into MongoDB in its largest batches, after the same warm-up, untimed. Kafka is
 * idle meanwhile, so this is a ceiling for end to end, not a share of it.
 */
async function storeOnly(
  ctx: BenchContext,
  mongoUrl: string,
  tag: string,
  events: number,
  warmup: number,
  servers: Record<string, number | undefined>,
): Promise<{ rate: number; cpu: CpuMs }> {
  const dir = mkdtempSync(join(tmpdir(), 'opal-bench-store-'));
  const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
  const store = await MongoDocumentStore.connect({ url: mongoUrl.replace(/\/[^/]*$/, `/${tag.replace(/[^A-Za-z0-9_]/g, '_')}`) });
  try {
    const warmAppends = ingestAppends(warmup, 'warmup-');
    await appendAll(log, warmAppends);
    await appendAll(log, ingestAppends(events));
    const all: StoredEvent[] = [];
    let cursor: Cursor | undefined;
    for (let r = await log.read(cursor, 10_000); r.events.length > 0; r = await log.read(cursor, 10_000)) {
      all.push(...r.events);
      cursor = r.next;
    }
    // The embedded log reads back in append order: the warm-up's events first.
    const warmed = warmAppends.reduce((n, a) => n + a.events.length, 0);
    const warm = all.slice(0, warmed);
    const timed = all.slice(warmed);
    const projection = ingestContributionsProjection as unknown as Projection<DomainEvent>;
    const runner = new ProjectionRunner(log, store, projection);
    await store.prepare(projection.name, projection.collections);
    for (let i = 0; i < warm.length; i += REMOTE_STORE_BATCH) await runner.apply(warm.slice(i, i + REMOTE_STORE_BATCH));
    // The broker is idle here: only this process and the MongoDB-wire server are measured.
    const meter = new CpuMeter({ mongodb: servers.mongodb });
    meter.start();
    const t0 = performance.now();
    for (let i = 0; i < timed.length; i += REMOTE_STORE_BATCH) await runner.apply(timed.slice(i, i + REMOTE_STORE_BATCH));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = meter.stop();
    ctx.progress(`store only: ${timed.length} events applied into MongoDB in ${seconds.toFixed(2)} s`);
    return { rate: timed.length / seconds, cpu };
  } finally {
    await store.dropDatabase();
    await store.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
