// Two replicas of `opal serve ingest` on Kafka + MongoDB that advertise their addresses
// (OPAL_ADVERTISE_HOST): each Datanet's commands are decided by the replica owning its stream's
// partition, whichever replica a client reached, so the replicas no longer race for its appends.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { cursorKey, type KafkaEventLog } from '@opal/event-log-kafka';
import { datanetStream } from '@opal/ingest';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { call, clientStream, grpcClient, rng, signContribution, text, vocabulary, wallet } from '@opal/testkit';
import { ServeProcess, waitDrained } from './scale-out/serve-process.js';
import { sample, scrape } from './scale-out/metrics-scrape.js';
import { startOtlpReceiver } from './scale-out/otlp-receiver.js';
import { settledOwners } from './scale-out/command-owners.js';
import { brokers, groupsOf, platformLog, scenario, skip } from './scale-out/fault-kit.js';

const STREAMED = 200;

describe('ingest scaled out with commands routed to the owner of each Datanet', { skip, timeout: 300_000 }, () => {
  const s = scenario('ingest-routing');
  const dirs = [0, 1].map((i) => mkdtempSync(join(tmpdir(), `opal-ingest-routed-${i}-`)));
  const replicas: ServeProcess[] = [];
  const clients: any[] = [];
  let log: KafkaEventLog | undefined;
  let collector: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
  after(async () => {
    await collector?.close();
    for (const c of clients) c.close();
    for (const r of replicas) await r.kill();
    await log?.close();
    await dropDb(s.url).catch(() => {});
    await deleteTopics(brokers, s.prefix).catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const owners = (members: number) => settledOwners(brokers, `${s.prefix}owners.ingest`, members);

  const ownerOf = (table: Map<string, string>, datanetId: string) => {
    const { topic, partition } = log!.locate(datanetStream(datanetId));
    return table.get(cursorKey(topic, partition));
  };

  const forwarded = async (r: number, method: string) => sample(await scrape(replicas[r]!.metricsPort), 'opal_commands_forwarded_total', { grpc_method: method, outcome: 'forwarded' }) ?? 0;
  const conflicts = async (r: number) => sample(await scrape(replicas[r]!.metricsPort), 'opal_event_log_appends_total', { outcome: 'conflict' }) ?? 0;

  async function items(datanetId: string, seed: number, firstNonce: number, count: number) {
    const w = wallet(400 + seed);
    const random = rng(seed);
    const words = vocabulary(4000);
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const content = Buffer.from(text(random, words, 600));
        const nonce = BigInt(firstNonce + i);
        return { datanetId, content, contributor: w.address, nonce: nonce.toString(), signature: await signContribution(w, datanetId, content, nonce) };
      }),
    );
  }

  it(`takes two client streams of ${STREAMED} contributions on one Datanet, one per replica, and only its owner appends to it`, async () => {
    collector = await startOtlpReceiver();
    for (const dir of dirs) {
      // A free port each binds itself (one picked ahead may be taken meanwhile).
      replicas.push(new ServeProcess('ingest', { ...s.env, OPAL_DATA_DIR: dir, OPAL_ADVERTISE_HOST: '127.0.0.1', OPAL_METRICS_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint }));
    }
    for (const r of replicas) await r.start();
    clients.push(...replicas.map((r) => grpcClient(r.url, 'ingest')));
    log = await platformLog(brokers, s.prefix);
    const table = await owners(2);
    assert.deepEqual(new Set(table.values()), new Set(replicas.map((r) => r.url)), 'each replica owns a partition, at the address it advertised');
    // A Datanet the second replica owns, so that what the first one takes for it goes on.
    const datanetId = Array.from({ length: 50 }, (_, i) => `routed-${i}`).find((id) => ownerOf(table, id) === replicas[1]!.url)!;
    assert.ok(datanetId, 'some Datanet id falls in a partition the second replica owns');
    await call(clients[0], 'createDatanet', { datanetId, name: 'Routed', dataKind: 'text', license: 'MIT', owner: wallet(0).address, policy: { maxItemBytes: 4096 } });
    // The replicas connect to each other as the group names them; a command that found no
    // connection up would be decided where it arrived.
    const warm = await items(datanetId, 1, 1, 1);
    assert.equal((await call(clients[0], 'submitContribution', warm[0]!)).status, 'ACCEPTED');
    await new Promise((r) => setTimeout(r, 500));

    const streams = await Promise.all([0, 1].map((r) => items(datanetId, 10 + r, 100, STREAMED)));
    const before = await Promise.all([0, 1].map(conflicts));
    const results = await Promise.all(streams.map((list, r) => clientStream(clients[r], 'submitContributions', list)));
    for (const [r, batch] of results.entries()) {
      const statuses = batch.results.map((x: { status: string; reason: string }) => x.status + (x.reason ? ` ${x.reason}` : ''));
      assert.deepEqual(statuses, streams[r]!.map(() => 'ACCEPTED'), `replica ${r}: ${JSON.stringify(batch.results.filter((x: { status: string }) => x.status !== 'ACCEPTED').slice(0, 3))}`);
      assert.ok(batch.results.every((x: { contributionId: string }) => /^0x[0-9a-f]{64}$/.test(x.contributionId)), 'each result names its contribution');
    }
    assert.equal(await forwarded(0, 'SubmitContributions'), STREAMED, 'the first replica sent on every item it took');
    assert.equal(await forwarded(1, 'SubmitContributions'), 0, 'the owner sent on none');
    assert.deepEqual(await Promise.all([0, 1].map(conflicts)), before, 'no append lost a race to the other replica');

    // A unary command goes on too, and the owner's refusal comes back as the owner gave it.
    const [one] = await items(datanetId, 20, 1, 1);
    const unary = await forwarded(0, 'SubmitContribution');
    assert.equal((await call(clients[0], 'submitContribution', one!)).status, 'ACCEPTED');
    assert.equal(await forwarded(0, 'SubmitContribution'), unary + 1);
    // The owner's handling is part of the caller's trace: its server span is a child of the first replica's.
    const submits = () => collector!.spans.filter((x) => x.name === 'opal.ingest.v1.IngestService/SubmitContribution');
    const hop = () => submits().find((owner) => submits().some((first) => first.spanId === owner.parentSpanId && first.traceId === owner.traceId));
    for (let i = 0; i < 100 && !hop(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(hop(), `a forwarded call's span has the first replica's as parent: ${JSON.stringify(submits().map((x) => [x.traceId, x.spanId, x.parentSpanId]))}`);
    await assert.rejects(call(clients[0], 'submitContribution', one!), (e: ServiceError) => e.code === status.ALREADY_EXISTS && /nonce/.test(e.details));
    await assert.rejects(call(clients[0], 'submitContribution', { ...one!, nonce: '2', signature: Buffer.alloc(64) }), (e: ServiceError) => e.code === status.INVALID_ARGUMENT && /^signature: must be 65 bytes/.test(e.details));
    assert.equal(await forwarded(0, 'SubmitContribution'), unary + 3, 'the refused ones went on too');

    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    for (const c of clients) assert.equal((await call(c, 'getDatanet', { datanetId })).accepted, 2 * STREAMED + 2);
    const version = await call(clients[0], 'publishVersion', { datanetId });
    assert.equal(version.contributions, 2 * STREAMED + 2, 'the log holds each contribution once');
  });

  it('the owner is killed: the other replica takes its partitions and decides that Datanet itself', async () => {
    const table = await owners(2);
    const datanetId = Array.from({ length: 50 }, (_, i) => `routed-${i}`).find((id) => ownerOf(table, id) === replicas[1]!.url);
    assert.ok(datanetId, 'the second replica still owns the Datanet');
    await replicas[1]!.kill();
    const after = await owners(1);
    assert.deepEqual(new Set(after.values()), new Set([replicas[0]!.url]));
    const list = await items(datanetId, 30, 1, 50);
    const batch = await clientStream(clients[0], 'submitContributions', list);
    assert.deepEqual(
      batch.results.map((x: { status: string }) => x.status),
      list.map(() => 'ACCEPTED'),
    );
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    assert.equal((await call(clients[0], 'getDatanet', { datanetId })).accepted, 2 * STREAMED + 2 + 50);
  });

  it('the owner is stopped as a rolling upgrade does (SIGTERM) while clients send to the other replica: every call is answered, every item ACCEPTED', async () => {
    // Back to two replicas; the second one drains for 3 s when stopped (the chart's is 5 s).
    const second = replicas[1]!;
    second.withEnv({ OPAL_SHUTDOWN_DRAIN_MS: '3000', OPAL_LOG_LEVEL: 'info' });
    await second.start();
    const table = await owners(2);
    const datanetId = Array.from({ length: 50 }, (_, i) => `rolling-${i}`).find((id) => ownerOf(table, id) === second.url)!;
    assert.ok(datanetId, 'some Datanet id falls in a partition the restarted replica owns');
    await call(clients[0], 'createDatanet', { datanetId, name: 'Rolling', dataKind: 'text', license: 'MIT', owner: wallet(0).address, policy: { maxItemBytes: 4096 } });
    const streamed = await items(datanetId, 40, 1, 240);
    const unary = await items(datanetId, 41, 1, 240);
    const sentBefore = await forwarded(0, 'SubmitContribution');
    const streamedBefore = await forwarded(0, 'SubmitContributions');
    const pace = () => new Promise((r) => setTimeout(r, 25));
    // Both paced over about 6 s: they go on to the owner before, during and after its stop.
    let stopped: Promise<number | null> | undefined;
    const answer = new Promise<{ results: { status: string; reason: string }[] }>((resolve, reject) => {
      const stream = clients[0].submitContributions((err: ServiceError | null, res: { results: { status: string; reason: string }[] }) => (err ? reject(err) : resolve(res)));
      void (async () => {
        for (const [i, item] of streamed.entries()) {
          if (i === 40) {
            stopped = new Promise((r) => second.child!.once('exit', r));
            second.child!.kill('SIGTERM');
          }
          stream.write(item);
          await pace();
        }
        stream.end();
      })();
    });
    const answered: string[] = [];
    for (const item of unary) {
      answered.push(await call(clients[0], 'submitContribution', item).then((r) => r.status, (e: ServiceError) => `${status[e.code]}: ${e.details}`));
      await pace();
    }
    assert.deepEqual(answered, unary.map(() => 'ACCEPTED'));
    const batch = await answer;
    assert.deepEqual(
      batch.results.map((x) => x.status + (x.reason ? ` ${x.reason}` : '')),
      streamed.map(() => 'ACCEPTED'),
    );
    assert.equal(await stopped, 0, 'the stopped replica exited cleanly');
    assert.match(second.output(), /draining/);
    assert.ok((await forwarded(0, 'SubmitContribution')) > sentBefore, 'some calls went on to the owner before it left');
    // The stream's items went on until the first replica heard the owner left, then were decided here
    // (after the owner had answered for those before them), not by the leaving one beside it.
    const streamedOn = (await forwarded(0, 'SubmitContributions')) - streamedBefore;
    assert.ok(streamedOn >= 40 && streamedOn < streamed.length, `items sent on to the owner: ${streamedOn} of ${streamed.length}`);
    assert.deepEqual(new Set((await owners(1)).values()), new Set([replicas[0]!.url]), 'the other replica owns every partition now');
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    assert.equal((await call(clients[0], 'getDatanet', { datanetId })).accepted, streamed.length + unary.length);
  });
});
