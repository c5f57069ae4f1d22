// Fault tests of the scaled-out mode against real processes (`opal serve ingest` on Kafka and
// MongoDB): after each fault the MongoDB read models' digest equals one clean embedded pass.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { call, clientStream, grpcClient, signContributionFast, wallet } from '@opal/testkit';
import { status } from '@grpc/grpc-js';
import { EventLogError } from '@opal/event-log';
import { infrastructureStatus } from '@opal/service-runtime';
import { appendAll, comparable, ingestAppends, mongoDigests } from './scale-out/ingest-fixture.js';
import { waitDrained } from './scale-out/serve-process.js';
import { privateServer } from './scale-out/private-server.js';
import { appliedBy, sample, scrape, untilApplied } from './scale-out/metrics-scrape.js';
import { checkpointed, recordsIn, faultHarness, BIG, SMALL, brokers, groupsOf, infra, scenario, skip, untilContributions, platformLog } from './scale-out/fault-kit.js';

const PROJECTIONS = ['ingest.catalog', 'ingest.contributions'] as const;
const settle = () => new Promise((r) => setTimeout(r, 500));

const localOnly = !infra.skipped && infra.mode !== 'local' ? `needs the local servers (mode ${infra.mode})` : undefined;

describe('scale-out faults: opal serve ingest on Kafka + MongoDB', { skip, timeout: 900_000 }, () => {
  const { cleanups, expected, explained, serve } = faultHarness();
  after(() => cleanups.run());

  /** A scenario on the shared broker: its events, the clean pass they must reproduce, and a log to append them. */
  async function prepare(name: string, events: number) {
    const s = scenario(name);
    cleanups.push(() => dropDb(s.url), () => deleteTopics(brokers, s.prefix));
    const appends = ingestAppends(events, '', { lifecycle: true });
    const reference = expected(appends, events);
    const log = await platformLog(brokers, s.prefix);
    cleanups.push(() => log.close()); // a failed test must not keep the process alive
    return { s, appends, reference, log };
  }

  /**
   * Once every group has consumed everything, the MongoDB read models equal the clean pass, and no
   * event was set aside on the way (an event applied and then dead-lettered in a fault would leave
   * the digest equal). If not, the failure shows what the services logged.
   */
  async function sameAsCleanPass(kafka: string, s: { prefix: string; url: string }, reference: ReturnType<typeof expected>) {
    await explained(async () => {
      await waitDrained(kafka, s.prefix, groupsOf(s.prefix));
      assert.deepEqual(comparable(await mongoDigests(s.url)), await reference);
      // Every collection of the read models holds documents: none compares equal for being empty.
      const client = await new MongoClient(s.url).connect();
      try {
        for (const c of ['ingest_datanets', 'ingest_versions', 'ingest_version_pages', 'ingest_contributions', 'ingest_contributors']) {
          assert.ok((await client.db().collection(c).countDocuments({})) > 0, `${c} holds documents`);
        }
      } finally {
        await client.close();
      }
      assert.equal(await recordsIn(kafka, `${s.prefix}dead-letter`), 0, 'no event went to the dead-letter topic');
    });
  }

  it(`SIGKILL of the consuming service three times during ${BIG} events, restarted each time`, async () => {
    const { s, appends, reference, log } = await prepare('kill', BIG);
    // Each kill lands while the consumer is applying records it has not checkpointed: once a newly
    // started consumer has applied events (a trickle of appends until it has joined its groups), a
    // burst goes out, and the consumer is killed while the burst's second half is being appended.
    // After the kill, its stored checkpoint is behind the records appended before it.
    let appended = 0;
    const next = (n: number) => {
      const part = appends.slice(appended, appended + n);
      appended += part.length;
      return part;
    };
    for (let k = 1; k <= 3; k++) {
      const consumer = serve({ ...s.env, OPAL_METRICS_PORT: '0' });
      await consumer.start();
      const applied = () => appliedBy(consumer.metricsPort, 'ingest.contributions');
      for (const deadline = Date.now() + 60_000; (await applied()) === 0; ) {
        assert.ok(Date.now() < deadline, `consumer ${k} applies events within 60 s`);
        await appendAll(log, next(2));
        await new Promise((r) => setTimeout(r, 100));
      }
      await appendAll(log, next(200)); // about 2,000 events
      const rest = appendAll(log, next(200), { pauseEvery: 500, pauseMs: 50 });
      const records = await recordsIn(brokers, `${s.prefix}ingest`);
      await consumer.crash();
      await rest;
      await settle(); // writes the server had received before the kill
      const stored = await checkpointed(s.url, 'ingest.contributions');
      assert.ok(stored < records, `kill ${k} landed mid-stream: the checkpoint at ${stored} of the ${records} records appended before it`);
    }
    assert.ok(appended < appends.length / 2, `three kills within the first half of the stream (${appended} of ${appends.length} appends)`);
    // The rest is appended while the last consumer runs.
    const consumer = serve(s.env);
    await consumer.start();
    await appendAll(log, appends.slice(appended), { pauseEvery: 1000, pauseMs: 100 });
    await log.close();
    await sameAsCleanPass(brokers, s, reference);
    await consumer.kill('SIGTERM');
  });

  it('two instances share the work; one is killed mid-stream and the other takes over its partitions', async () => {
    const { s, appends, reference, log } = await prepare('rebalance', SMALL);
    const a = serve({ ...s.env, OPAL_METRICS_PORT: '0' });
    const b = serve({ ...s.env, OPAL_METRICS_PORT: '0' });
    await Promise.all([a.start(), b.start()]);
    // Appended a few Datanets at a time until both instances have applied events to both read
    // models: each holds partitions of both groups (a late joiner would otherwise hold none).
    const both = async () => (await Promise.all([a, b].flatMap((p) => PROJECTIONS.map((pr) => appliedBy(p.metricsPort, pr))))).every((n) => n > 0);
    let appended = 0;
    const half = Math.floor(appends.length / 2);
    for (const deadline = Date.now() + 60_000; !(await both()); ) {
      const applied = await Promise.all([a, b].flatMap((p) => PROJECTIONS.map(async (pr) => `${p === a ? 'a' : 'b'} ${pr}: ${await appliedBy(p.metricsPort, pr)}`)));
      assert.ok(Date.now() < deadline, `both instances consume within 60 s (${applied.join(', ')}; ${appended} appends out)`);
      if (appended < half) await appendAll(log, appends.slice(appended, appended + 5));
      appended = Math.min(half, appended + 5);
      await new Promise((r) => setTimeout(r, 100));
    }
    await appendAll(log, appends.slice(appended, half), { pauseEvery: 1000, pauseMs: 100 });
    const byA = await Promise.all(PROJECTIONS.map((pr) => appliedBy(a.metricsPort, pr)));
    await a.crash();
    const byBAtKill = await Promise.all(PROJECTIONS.map((pr) => appliedBy(b.metricsPort, pr)));
    const after = SMALL - appends.slice(0, half).reduce((n, x) => n + x.events.length, 0);
    // Half the stream, on every partition, goes out after the kill: only b is left to apply it.
    await appendAll(log, appends.slice(half), { pauseEvery: 1000, pauseMs: 100 });
    await log.close();
    await sameAsCleanPass(brokers, s, reference);
    for (const [i, projection] of PROJECTIONS.entries()) {
      const byB = await appliedBy(b.metricsPort, projection);
      // b applied every event appended after the kill, a's former partitions' too; b alone fewer
      // than all, so what a applied and committed stood.
      assert.ok(byA[i]! > 0, `${projection}: a applied ${byA[i]} before the kill`);
      assert.ok(byB - byBAtKill[i]! >= after, `${projection}: b applied ${byB - byBAtKill[i]!} after the kill, of the ${after} events appended after it`);
      assert.ok(byB < SMALL, `${projection}: b applied ${byB} in all, of ${SMALL}`);
    }
    await b.kill('SIGTERM');
  });

  it('duplicates on purpose: copies of records in the topic, and every event redelivered from offset zero', async () => {
    const { s, appends, reference, log } = await prepare('dup', SMALL);
    await appendAll(log, appends);
    await log.close();
    // Raw copies of the first 2,000 records appended again: readers must see them as duplicates.
    const kafka = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `${s.prefix}copier` });
    const producer = kafka.producer();
    await Promise.all([consumer.connect(), producer.connect()]);
    const topic = `${s.prefix}ingest`; // the ingest service's topic, where Datanet streams live
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let copied = 0;
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch }) => {
          const take = batch.messages.slice(0, Math.max(0, 2000 - copied));
          if (take.length) await producer.send({ topic, messages: take.map((m) => ({ key: m.key, value: m.value, partition: batch.partition })) });
          copied += take.length;
          if (copied >= 2000) resolve();
        },
      });
    });
    await consumer.disconnect();
    await producer.disconnect();
    const service = serve({ ...s.env, OPAL_METRICS_PORT: '0' });
    await service.start();
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    for (const projection of PROJECTIONS) assert.equal(await appliedBy(service.metricsPort, projection), SMALL, `${projection}: the copies are not applied`);
    await service.kill('SIGTERM');
    // Every event delivered a second time: the read models' own checkpoints (which a restart resumes
    // from, whatever the consumer groups say) moved back to offset zero, their documents kept.
    const client = await new MongoClient(s.url).connect();
    try {
      const rewound = await client.db().collection('_checkpoints').updateMany({}, { $set: { at: {}, rev: 'rewound' }, $unset: { cursor: '' } });
      assert.equal(rewound.modifiedCount, PROJECTIONS.length);
    } finally {
      await client.close();
    }
    const again = serve({ ...s.env, OPAL_METRICS_PORT: '0' });
    await again.start();
    for (const projection of PROJECTIONS) await explained(() => untilApplied(again.metricsPort, projection, SMALL, 120_000));
    await sameAsCleanPass(brokers, s, reference);
    for (const projection of PROJECTIONS) assert.equal(await appliedBy(again.metricsPort, projection), SMALL, `${projection}: each event delivered once more, the copies again not`);
    await again.kill('SIGTERM');
  });

  describe('MongoDB server restart', { skip: localOnly }, () => {
    const server = privateServer('ferretdb', ['OPAL_MONGO_PORT', 'OPAL_FERRETDB_DEBUG_PORT']);
    before(() => server.up());
    after(() => server.remove());

    it('the MongoDB server crashes while events keep coming, and restarts: the projection waits, nothing is dead-lettered', async () => {
      const { s, appends, reference, log } = await prepare('mongo', SMALL);
      // The service gives up finding the server after 0.5 s per try, so the outage outlasts many tries.
      const url = `${server.endpoints.mongoUrl!.replace(/\/[^/]*$/, '')}/opal_fault_mongo_${process.pid}?serverSelectionTimeoutMS=500`;
      const half = appends.findIndex((_, i) => appends.slice(0, i).reduce((n, a) => n + a.events.length, 0) >= SMALL / 2);
      // A free port the service binds itself (one picked ahead may be taken meanwhile).
      const service = serve({ ...s.env, OPAL_STORE: url, OPAL_METRICS_PORT: '0' });
      await service.start();
      await appendAll(log, appends.slice(0, half));
      await untilContributions(url, Math.floor(SMALL / 2 / 4));
      await server.kill();
      await appendAll(log, appends.slice(half));
      await new Promise((r) => setTimeout(r, 8000));
      // What an operator sees during the outage: the read models fall behind by at least every
      // record appended since, and their batches fail and are retried.
      const later = appends.slice(half).reduce((n, a) => n + a.events.length, 0);
      const during = await scrape(service.metricsPort);
      for (const projection of ['ingest.contributions', 'ingest.catalog']) {
        const lag = sample(during, 'opal_projection_lag_records', { projection });
        assert.ok(lag !== undefined && lag >= later, `${projection}: lag ${lag} counts the ${later} records appended during the outage`);
        assert.ok((sample(during, 'opal_projection_batch_failures_total', { projection }) ?? 0) > 0, `${projection}: failed batches are counted`);
        assert.equal(sample(during, 'opal_projection_up', { projection }), 1, `${projection}: still running`);
      }
      await server.up();
      await sameAsCleanPass(brokers, { prefix: s.prefix, url }, reference);
      const caughtUp = await scrape(service.metricsPort);
      for (const projection of ['ingest.contributions', 'ingest.catalog']) {
        assert.equal(sample(caughtUp, 'opal_projection_lag_records', { projection }), 0, `${projection}: caught up`);
        assert.equal(sample(caughtUp, 'opal_projection_events_applied_total', { projection }), SMALL, `${projection}: each event applied once`);
        assert.equal(sample(caughtUp, 'opal_projection_dead_lettered_total', { projection }) ?? 0, 0);
      }
      await service.kill('SIGTERM');
      await dropDb(url);
    });

    it('contributions sent while the MongoDB server is away are refused UNAVAILABLE, none accepted without its content; sent again after, they are', async () => {
      const s = scenario('content');
      const url = `${server.endpoints.mongoUrl!.replace(/\/[^/]*$/, '')}/opal_fault_content_${process.pid}?serverSelectionTimeoutMS=500`;
      cleanups.push(() => deleteTopics(brokers, s.prefix));
      const service = serve({ ...s.env, OPAL_STORE: url });
      await service.start();
      const ingest = grpcClient(service.url, 'ingest');
      try {
        await call(ingest, 'createDatanet', { datanetId: 'away', name: 'Away', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
        const w = wallet(5);
        const item = (n: number) => {
          const content = Buffer.from(`sent with the store away, item ${n}`);
          return { datanetId: 'away', content, contributor: w.address, nonce: String(n), signature: signContributionFast(w, 'away', content, BigInt(n)) };
        };
        const items = [1, 2, 3, 4].map(item);
        await call(ingest, 'submitContribution', item(0));
        await server.kill();
        for (const x of items.slice(0, 2)) await assert.rejects(call(ingest, 'submitContribution', x), (e: any) => e.code === status.UNAVAILABLE && /mongodb unavailable/.test(e.details));
        const streamed = await clientStream(ingest, 'submitContributions', items.slice(2));
        assert.deepEqual(streamed.results.map((r: any) => [r.status, r.reason]), [['REJECTED', 'UNAVAILABLE'], ['REJECTED', 'UNAVAILABLE']]);
        await server.up();
        // Nothing was accepted meanwhile: the same nonces go through now, and each content is there.
        for (const x of items) {
          const r = await call(ingest, 'submitContribution', x);
          assert.equal(r.status, 'ACCEPTED');
          assert.deepEqual(Buffer.from((await call(ingest, 'getContent', { contentHash: r.contentHash })).content), x.content);
        }
        // The list is a read model: it has all five once the service has applied the last one.
        let listed = await call(ingest, 'listContributions', { datanetId: 'away' });
        for (const deadline = Date.now() + 30_000; listed.total < 5 && Date.now() < deadline; ) {
          await new Promise((r) => setTimeout(r, 100));
          listed = await call(ingest, 'listContributions', { datanetId: 'away' });
        }
        assert.equal(listed.total, 5);
        for (const c of listed.contributions) await call(ingest, 'getContent', { contentHash: c.contentHash });
      } finally {
        ingest.close();
        await service.kill('SIGTERM');
        await dropDb(url);
      }
    });
  });

  describe('broker restart', { skip: localOnly }, () => {
    const server = privateServer('kafka', ['OPAL_KAFKA_PORT', 'OPAL_KAFKA_CONTROLLER_PORT']);
    let privateBrokers = '';
    before(async () => {
      privateBrokers = (await server.up()).kafkaBrokers!;
    });
    after(() => server.remove());

    it('the Kafka broker crashes and restarts mid-stream', async () => {
      const s = scenario('broker');
      const serveEnv = { ...s.env, OPAL_EVENT_LOG: `kafka://${privateBrokers}` };
      cleanups.push(() => dropDb(s.url));
      const appends = ingestAppends(SMALL, '', { lifecycle: true });
      const reference = expected(appends, SMALL);
      const half = appends.findIndex((_, i) => appends.slice(0, i).reduce((n, a) => n + a.events.length, 0) >= SMALL / 2);
      const log = await platformLog(privateBrokers, s.prefix);
      cleanups.push(() => log.close());
      const service = serve(serveEnv);
      await service.start();
      await appendAll(log, appends.slice(0, half));
      await untilContributions(s.url, Math.floor(SMALL / 2 / 4));
      // The rest goes out through the same log while the broker is killed and started again: a
      // writer that keeps writing, as a service's would, each append tried again while refused
      // UNAVAILABLE (one whose answer was lost found in the log by its stream's version).
      let refused = 0;
      let done = 0;
      const writing = (async () => {
        for (const a of appends.slice(half)) {
          for (let tries = 0; ; tries++) {
            const landed = await log.append(a.streamId, a.events, { expectedVersion: a.fromSeq - 1, producer: 'ingest' }).then(
              () => true,
              async (e: unknown) => {
                if (!(e instanceof EventLogError) || tries > 240) throw e;
                if (e.code === 'VERSION_CONFLICT') return (await log.streamVersion(a.streamId)) === a.fromSeq - 1 + a.events.length || Promise.reject(e);
                if (e.code !== 'UNAVAILABLE') throw e;
                refused++;
                await new Promise((r) => setTimeout(r, 250));
                return false;
              },
            );
            if (landed) break;
          }
          done++;
        }
      })();
      while (done < 20) await new Promise((r) => setTimeout(r, 20));
      await server.kill();
      await new Promise((r) => setTimeout(r, 3000));
      await server.up();
      const atUp = done;
      await writing;
      // The kafka client waits a broker out for a while before it refuses: an append either waited
      // or was refused and tried again. The same log then appended the rest with the broker back.
      assert.ok(atUp < appends.length - half, `appends were still to go when the broker came back (${atUp} of ${appends.length - half} out, ${refused} refused)`);
      await log.close();
      await sameAsCleanPass(privateBrokers, s, reference);
      await service.kill('SIGTERM');
    });

    it('with the broker away, appends and reads fail UNAVAILABLE naming it; once it is back, the same log and a subscription started meanwhile work', async () => {
      const log = await platformLog(privateBrokers, `away-${process.pid}.`);
      cleanups.push(() => log.close());
      const probe = [{ type: 'Probe', payload: Buffer.from('{}'), occurredAt: 1_700_000_000_000 }];
      await log.append('datanet-before', probe, { expectedVersion: 'no_stream', producer: 'test' });
      assert.equal(await log.reachable(), true);
      await server.kill();
      // Asked once, without the client's retries: what a query waits on before it says so.
      assert.equal(await log.reachable(), false, 'no broker answers');
      const failures = await Promise.all([
        log.append('datanet-after', probe, { expectedVersion: 'no_stream', producer: 'test' }),
        log.readStream('datanet-never-read'),
        log.endsOf(),
      ].map((p) => p.then(() => assert.fail('succeeded with the broker away'), (e: unknown) => e)));
      for (const e of failures) {
        assert.ok(e instanceof EventLogError, String(e));
        assert.equal(e.code, 'UNAVAILABLE');
        assert.ok(e.message.includes(privateBrokers), e.message);
        assert.equal(infrastructureStatus(e)?.code, 'UNAVAILABLE');
      }

      // A subscription started while the broker is away, and the same log once it is back: the
      // consumers start again by themselves (a read during the outage used to stop this log's index
      // for good, and a consumer that found no group coordinator, its subscription). Whether a
      // consumer gives up and is started again (rejoin.unit.spec.ts), or kafkajs reconnects it
      // first, depends on when the broker answers again: this checks what follows either way.
      const delivered: string[] = [];
      const failed: unknown[] = [];
      const sub = log.subscribe({ name: `away-${process.pid}`, from: 'beginning', streams: ['datanet'], handler: async (batch) => void delivered.push(...batch.map((e) => e.streamId)), onFailed: (e) => failed.push(e) });
      cleanups.push(() => sub.stop());
      await new Promise((r) => setTimeout(r, 3000));
      await server.up();
      for (const deadline = Date.now() + 60_000; ; ) {
        const done = await log.append('datanet-after', probe, { expectedVersion: 'no_stream', producer: 'test' }).then(() => true, (e: unknown) => {
          if (Date.now() > deadline) throw e;
          return false;
        });
        if (done) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(await log.reachable(), true, 'the broker answers again');
      assert.equal((await log.readStream('datanet-before')).length, 1);
      assert.equal((await log.readStream('datanet-never-read')).length, 0);
      assert.equal(await log.streamVersion('datanet-after'), 1);
      await sub.caughtUp();
      assert.deepEqual(delivered.sort(), ['datanet-after', 'datanet-before']);
      assert.deepEqual(failed, []);
    });
  });
});

