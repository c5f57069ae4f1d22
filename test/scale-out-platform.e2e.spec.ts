import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Partitioners } from 'kafkajs';
import { startFakeOpenAiServer } from '@opal/lora-runtime/testing';
import { OpalProcess, call, grpcClient, runOpal, withOutputOnFailure, withPlatformFee } from '@opal/testkit';
import { paidCompletionIsAttributed, type LoopClients } from './paid-completion.js';
import { deleteTopics, withKafkaAdmin, dropDb } from '@opal/test-infra';
import { brokers, mongoBase, platformLog, skip } from './scale-out/fault-kit.js';
import { startOtlpReceiver } from './scale-out/otlp-receiver.js';
import { sample, scrape } from './scale-out/metrics-scrape.js';

// The whole loop of the platform on Kafka and MongoDB instead of the embedded log and state:
// contributions become a version, an adapter serves it, a tenant pays for a completion, the
// attribution service credits the sources; then the auditor's checks run against the cluster
// (`opal attribution verify` from a machine without the index files, `opal replay`). Twice: with
// `opal up` (every service in one process), and with each service in its own `opal serve` process,
// as the Helm chart runs them.

// OPAL_FAULT_LOG: a file that collects the processes' logs, for a look after a failure.
const logged = process.env.OPAL_FAULT_LOG ? { logFile: process.env.OPAL_FAULT_LOG } : {};

type Cluster = { env: Record<string, string>; url: string; prefix: string };

function cluster(label: string): Cluster {
  const prefix = `platform-${label}-${process.pid}-${Date.now()}.`;
  const url = `${mongoBase}/opal_platform_${label}_${process.pid}`;
  return { prefix, url, env: { OPAL_EVENT_LOG: `kafka://${brokers}`, OPAL_STORE: url, OPAL_KAFKA_TOPIC_PREFIX: prefix } };
}

async function dropCluster(c: Cluster): Promise<void> {
  await deleteTopics(brokers, c.prefix);
  await dropDb(c.url);
}

/** The loop, then `opal attribution verify` twice from an auditor's machine without the index files. */
async function loopVerifiedByAuditor(c: Cluster, clients: LoopClients, httpPort: number, dir: string): Promise<string> {
  const inferenceId = await paidCompletionIsAttributed(clients, httpPort, 12);
  // The log and the content are the cluster's, the index files are not there: verify builds them
  // from the manifest in the log and checks them against the logged hash (the second run reuses them).
  const auditor = { ...c.env, OPAL_DATA_DIR: join(dir, 'auditor') };
  for (let i = 0; i < 2; i++) {
    const verified = await runOpal(['attribution', 'verify', inferenceId], auditor);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^match/m);
  }
  assert.ok(existsSync(join(dir, 'auditor', 'indexes')), "the index was built on the auditor's machine");
  return inferenceId;
}

describe('the platform scaled out: opal up on Kafka and MongoDB', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-platform-up-'));
  const c = cluster('up');
  // At info, so that its log says how it opened the Kafka index (a restart below loads it).
  const node = new OpalProcess(dir, { env: { ...c.env, OPAL_LOG_LEVEL: 'info', OPAL_KAFKA_INDEX_PERSIST: 'true' }, ...logged });
  const clients: Record<string, any> = {};
  const connect = () => {
    for (const s of ['ingest', 'inference', 'attribution', 'admin'] as const) clients[s] = grpcClient(node.url, s);
  };
  const close = () => {
    for (const x of Object.values(clients)) x?.close();
  };
  const digest = async () => (await call(clients.admin, 'getStateDigest', {})) as { digest: string; logEvents: string };
  let inferenceId = '';

  before(async () => {
    await node.start();
    connect();
  });
  after(async () => {
    close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    if (!skip) await dropCluster(c);
  });

  it('a paid completion gets a receipt crediting its sources, and opal attribution verify confirms it from Kafka', async () => {
    inferenceId = await loopVerifiedByAuditor(c, clients as LoopClients, node.httpPort, dir);
  });

  it("keeps each service's streams in a topic of its own", async () => {
    await withKafkaAdmin(brokers, async (admin) => {
      const records = async (topic: string) => (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(c.prefix)).sort();
      assert.deepEqual(mine, ['attribution', 'dead-letter', 'events', 'inference', 'ingest'].map((d) => c.prefix + d));
      for (const d of ['ingest', 'inference', 'attribution']) assert.ok((await records(c.prefix + d)) > 0, `${d}: its events are in ${c.prefix}${d}`);
      assert.equal(await records(`${c.prefix}events`), 0, 'no stream of the platform is left to the topic of unclaimed streams');
    });
  });

  it('has each read model and reactor follow only the topics that hold the events it handles', async () => {
    await withKafkaAdmin(brokers, async (admin) => {
      const topics = ['attribution', 'events', 'inference', 'ingest'].map((d) => c.prefix + d);
      // The topics where a subscription's consumer group has committed progress.
      const followed = async (name: string) =>
        (await admin.fetchOffsets({ groupId: `${c.prefix}${name}`, topics }))
          .filter((t) => t.partitions.some((p) => p.offset !== '-1'))
          .map((t) => t.topic.slice(c.prefix.length))
          .sort();
      assert.deepEqual(await followed('projection.ingest.contributions'), ['ingest']);
      assert.deepEqual(await followed('projection.inference.datanet_versions'), ['ingest']);
      assert.deepEqual(await followed('projection.inference.tenants.v2'), ['inference']); // its version 2's group
      assert.deepEqual(await followed('projection.attribution.receipts'), ['attribution']);
      assert.deepEqual(await followed('attribution.receipt-writer'), ['inference']);
      assert.deepEqual(await followed('attribution.index-builder'), ['inference', 'ingest']);
      // Settlement's events have no streams yet: its read models still follow every topic.
      assert.deepEqual(await followed('projection.settlement.balances'), ['attribution', 'inference', 'ingest']);
    });
  });

  it('opal replay from Kafka rebuilds the live state digest, and a restart keeps it', async () => {
    // The log is quiet once the receipt is in: nothing else reacts to it here.
    const live = await digest();
    const replay = await runOpal(['replay', '--json'], { ...c.env, OPAL_DATA_DIR: join(dir, 'replay') });
    assert.equal(replay.code, 0, replay.stderr);
    const r = JSON.parse(replay.stdout) as { digest: string; events: number };
    assert.equal(String(r.events), live.logEvents);
    assert.equal(r.digest, live.digest);
    close();
    await node.stop();
    await node.start();
    connect();
    // The stop wrote the Kafka index's snapshot into the data folder; the start loaded it.
    const ready = [...node.output().matchAll(/"restoredEvents":(\d+)[^\n]*"msg":"kafka index ready"/g)].at(-1);
    assert.ok(ready && Number(ready[1]) > 0, `the restart loaded its index from its snapshot: ${ready?.[0] ?? 'no kafka index ready line'}`);
    assert.equal((await digest()).digest, live.digest);
    const receipt = await call(clients.attribution, 'getReceipt', { inferenceId });
    assert.equal(receipt.inferenceId, inferenceId);
  });

  it('a poison event: the live read models set it aside and go on; opal log dead-letters lists it, and opal replay --skip-dead-lettered rebuilds the live digest', async () => {
    // An event of a type the ingest read models decode, with bytes that do not decode, in a stream of
    // the partition where the Datanet created next lands: its read models must pass the poison to show it.
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    const partitionOf = (key: string) => partitioner({ topic: `${c.prefix}ingest`, partitionMetadata, message: { key, value: null } });
    let poisonStream = '';
    for (let i = 0; !poisonStream || partitionOf(poisonStream) !== partitionOf('datanet-after-poison'); i++) poisonStream = `datanet-poison-${i}`;
    const log = await platformLog(brokers, c.prefix);
    try {
      await log.append(poisonStream, [{ type: 'opal.ingest.v1.DatanetCreated', payload: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), occurredAt: Date.now() }], { expectedVersion: 'no_stream', producer: 'poisoner' });
    } finally {
      await log.close();
    }
    await call(clients.ingest, 'createDatanet', { datanetId: 'after-poison', name: 'After', dataKind: 'text', license: 'CC0-1.0', owner: '0x' + '11'.repeat(20) });
    const deadline = Date.now() + 60_000;
    while (!(await call(clients.ingest, 'getDatanet', { datanetId: 'after-poison' }).catch(() => undefined))) {
      assert.ok(Date.now() < deadline, 'the Datanet created after the poison shows in the catalog');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Both ingest read models decode the type: each sets the event aside, with the reason (the
    // contributions read model may do so a moment after the catalog).
    let letters: { subscription: string; stream: string; reason: string }[] = [];
    for (let i = 0; letters.length < 2; i++) {
      assert.ok(i < 60, `both ingest read models set the poison aside: ${JSON.stringify(letters)}`);
      if (i > 0) await new Promise((r) => setTimeout(r, 1000));
      const listed = await runOpal(['log', 'dead-letters', '--json'], { ...c.env, OPAL_DATA_DIR: join(dir, 'dead-letters') });
      assert.equal(listed.code, 0, listed.stderr);
      letters = listed.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { subscription: string; stream: string; reason: string });
    }
    assert.deepEqual(letters.map((l) => [l.subscription, l.stream]).sort(), [['projection.ingest.catalog', poisonStream], ['projection.ingest.contributions', poisonStream]]);
    for (const l of letters) assert.match(l.reason, new RegExp(`projection ${l.subscription.slice('projection.'.length)}: on opal.ingest.v1.DatanetCreated ${poisonStream}#1 .*wire type`));
    const live = await digest();
    // A replay applies every event: it stops at the poison, naming it, and says how to leave it out.
    const strict = await runOpal(['replay'], { ...c.env, OPAL_DATA_DIR: join(dir, 'replay') });
    assert.equal(strict.code, 1, strict.stdout);
    assert.match(strict.stderr, new RegExp(`on opal.ingest.v1.DatanetCreated ${poisonStream}#1 .*--skip-dead-lettered`, 's'));
    // Leaving out what the live subscriptions set aside, it rebuilds the state they serve.
    const replay = await runOpal(['replay', '--json', '--skip-dead-lettered'], { ...c.env, OPAL_DATA_DIR: join(dir, 'replay') });
    assert.equal(replay.code, 0, replay.stderr);
    const r = JSON.parse(replay.stdout) as { digest: string; events: number; leftOut: { projection: string; event: string }[] };
    assert.equal(String(r.events), live.logEvents);
    assert.equal(r.digest, live.digest);
    assert.deepEqual(r.leftOut.map((l) => l.projection).sort(), ['ingest.catalog', 'ingest.contributions']);
    assert.ok(r.leftOut.every((l) => l.event.startsWith(`opal.ingest.v1.DatanetCreated ${poisonStream}#1 (`)), JSON.stringify(r.leftOut));
  });
});

describe('the platform scaled out: each service in its own opal serve process', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-platform-serve-'));
  const c = cluster('serve');
  const services = ['ingest', 'inference', 'attribution', 'settlement', 'governance'] as const;
  // Each with a data folder of its own (attribution keeps its index files there), all sending their
  // spans to one collector.
  let collector: Awaited<ReturnType<typeof startOtlpReceiver>>;
  const traced: Record<string, string> = {};
  const nodes = Object.fromEntries(
    services.map((s) => [s, new OpalProcess(join(dir, s), { command: ['serve', s], env: Object.assign(traced, c.env), ...logged })]),
  ) as Record<(typeof services)[number], OpalProcess>;
  const clients: Record<string, any> = {};

  before(async () => {
    collector = await startOtlpReceiver();
    traced['OTEL_EXPORTER_OTLP_ENDPOINT'] = collector.endpoint;
    // Inference serves its metrics, on a free port it binds itself (one picked ahead may be taken meanwhile).
    nodes.inference = new OpalProcess(join(dir, 'inference'), {
      command: ['serve', 'inference'],
      env: { ...traced, OPAL_METRICS_PORT: '0' },
      ...logged,
    });
    for (const s of services) await nodes[s].start();
    for (const s of ['ingest', 'inference', 'attribution'] as const) clients[s] = grpcClient(nodes[s].url, s);
  });
  after(async () => {
    for (const x of Object.values(clients)) x?.close();
    for (const s of services) await nodes[s].stop();
    await collector?.close();
    rmSync(dir, { recursive: true, force: true });
    if (!skip) await dropCluster(c);
  });

  it('a paid completion gets a receipt crediting its sources, across processes, and verify confirms it', async () => {
    await loopVerifiedByAuditor(c, clients as LoopClients, nodes.inference.httpPort, dir);
    const governance = grpcClient(nodes.governance.url, 'governance');
    const params = await call(governance, 'getParameters', {});
    governance.close();
    assert.ok(params.parameters.some((p: any) => p.name === 'attribution.min_span_tokens'), 'governance serves its parameters from MongoDB');
  });

  it('one paid completion is one trace: its HTTP request, its events, and the receipt another process writes', async () => {
    const traceId = randomBytes(16).toString('hex');
    const caller = randomBytes(8).toString('hex');
    const { apiKey } = await call(clients.inference, 'createTenant', { tenantId: 'traced' });
    await call(clients.inference, 'creditTenant', { tenantId: 'traced', amount: '1000000', reference: 'deposit-traced' });
    const client = new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${nodes.inference.httpPort}/v1`, maxRetries: 0, defaultHeaders: { traceparent: `00-${traceId}-${caller}-01` } });
    const completion = await client.completions.create({ model: 'loop-lm', prompt: 'the', max_tokens: 12, seed: 5 });
    const inferenceId = (completion as unknown as { opal: { inference_id: string } }).opal.inference_id;
    const inTrace = () => collector.spans.filter((x) => x.traceId === traceId);
    const find = (service: string, name: string, type?: string) =>
      inTrace().find((x) => x.service === service && x.name === name && (!type || String(x.attributes['opal.event_type']).endsWith(type)));
    // Spans reach the collector within a second or so of ending.
    for (let i = 0; i < 200 && !find('opal-attribution', 'event-log append', 'AttributionComputed'); i++) await new Promise((r) => setTimeout(r, 100));
    const request = find('opal-inference', 'POST /v1/completions');
    const completed = find('opal-inference', 'event-log append', 'InferenceCompleted');
    const attribute = find('opal-attribution', 'attribution.attribute');
    const receipt = find('opal-attribution', 'event-log append', 'AttributionComputed');
    assert.equal(request?.parentSpanId, caller, "the request's span continues the caller's trace");
    assert.equal(request?.attributes['opal.inference_id'], inferenceId, 'the trace is found by the inference id');
    const generate = find('opal-inference', 'inference.generate');
    assert.equal(generate?.parentSpanId, request.spanId, "the engine's part is a child of the request");
    assert.equal(generate?.attributes['opal.completion_tokens'], completion.usage?.completion_tokens);
    assert.ok(completed, `InferenceCompleted appended in the trace; got ${inTrace().map((x) => `${x.service}:${x.name}`).join(', ')}`);
    assert.equal(attribute?.parentSpanId, completed.spanId, 'the attribution process continues from the append, through the Kafka record');
    assert.equal(attribute?.attributes['opal.stream_id'], `inference-${inferenceId}`);
    assert.equal(receipt?.parentSpanId, attribute.spanId, "the receipt's append is part of it");
    // Read models apply many traces per batch: they link to them instead.
    const linked = () => collector.spans.find((x) => x.name === 'projection attribution.receipts' && x.links.some((l) => l.traceId === traceId));
    for (let i = 0; i < 50 && !linked(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(linked()?.service, 'opal-attribution', 'the receipts read model links to the trace');
  });

  it("an operator sees the size of a replica's index of the log", async () => {
    const text = await scrape(nodes.inference.metricsPort);
    const events = sample(text, 'opal_event_log_index_events', {});
    assert.ok(events !== undefined && events > 0, `the index holds the events inference appended (${events})`);
    const memory = sample(text, 'opal_event_log_index_bytes', { place: 'memory' });
    const file = sample(text, 'opal_event_log_index_bytes', { place: 'file' });
    assert.ok(memory !== undefined && file !== undefined && memory + file > 0, `its records' bytes: ${memory} in memory, ${file} in its file`);
    assert.equal(sample(text, 'opal_event_log_index_restored_events', {}), 0, 'a first start reads from offset zero');
  });

  it("two inference replicas never spend more than a tenant's balance together", async () => {
    // A second inference process on the same cluster, with a data folder of its own.
    const second = new OpalProcess(join(dir, 'inference-2'), { command: ['serve', 'inference'], env: c.env, ...logged });
    await second.start();
    try {
      const { apiKey } = await call(clients.inference, 'createTenant', { tenantId: 'tight' });
      const replicas = [nodes.inference.httpPort, second.httpPort].map((port) => new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }));
      const complete = (r: OpenAI, seed: number) => r.completions.create({ model: 'loop-lm', prompt: 'the', max_tokens: 20, seed }) as Promise<any>;
      // loop-lm charges 2 base units per output token and nothing for input, and the platform fee
      // is on top: a request of at most 20 tokens may cost 40 and its platform fee. Each replica
      // serves the adapter once before the race (the second builds its index first).
      const worst = withPlatformFee(40n);
      await call(clients.inference, 'creditTenant', { tenantId: 'tight', amount: String(2n * worst), reference: 'warm-up' });
      let warm = 0n;
      for (const r of replicas) warm += BigInt((await complete(r, 1)).opal.fee);
      // Ten requests' worst cases at once.
      await call(clients.inference, 'creditTenant', { tenantId: 'tight', amount: String(10n * worst), reference: 'deposit-1' });
      const available = 12n * worst - warm;

      const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => complete(replicas[i % 2]!, 100 + i)));
      const served = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<any>).value);
      const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
      for (const e of refused) assert.ok(e.status === 429 && e.error?.code === 'insufficient_quota', String(e));
      const fees = served.reduce((n, v) => n + BigInt(v.opal.fee), 0n);
      assert.ok(served.length >= 10, `at least the ten the deposit covers at once were served (${served.length})`);
      assert.ok(refused.length > 0, 'the rest were refused');
      assert.ok(fees <= available, `${served.length} served for ${fees} base units, with ${available} available`);
      // The balance read model, once it has every completion, shows what is left: never below zero.
      let tenant: any;
      for (let i = 0; i < 100; i++) {
        tenant = await call(clients.inference, 'getTenant', { tenantId: 'tight' });
        // Completions and settlements are on different streams, so they may reach the read model in either order.
        if (Number(tenant.inferences) >= 2 + served.length && tenant.held === '0') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(Number(tenant.inferences), 2 + served.length);
      assert.equal(BigInt(tenant.balance), available - fees);
      // Every hold was settled, on whichever replica held it.
      assert.equal(tenant.held, '0');
      assert.equal(tenant.available, tenant.balance);
    } finally {
      await second.stop();
    }
  });

  it("a replica killed mid-request leaves a hold that another replica settles once it expires, charging nothing", async () => {
    // A slow OpenAI-compatible server behind a remote base model: a request runs for seconds.
    const remote = await startFakeOpenAiServer({ baseModel: 'slow-base', tokenDelayMs: 100 });
    const holdEnv = { ...c.env, OPAL_INFERENCE_HOLD_SECONDS: '10' };
    const doomed = new OpalProcess(join(dir, 'inference-doomed'), { command: ['serve', 'inference'], env: holdEnv, ...logged });
    const survivor = new OpalProcess(join(dir, 'inference-survivor'), { command: ['serve', 'inference'], env: holdEnv, ...logged });
    await doomed.start();
    await survivor.start();
    const admin = grpcClient(survivor.url, 'inference');
    try {
      await withOutputOnFailure({ doomed, survivor, inference: nodes.inference }, async () => {
        await call(admin, 'registerBaseModel', { baseModelId: 'slow', kind: 'remote', endpoint: remote.url, remoteName: 'slow-base' });
        // A priced adapter on it (the remote server loads it by path): a request holds up to 2 per token.
        await call(admin, 'registerAdapter', { adapterId: 'slow-lora', baseModelId: 'slow', owner: '0x' + '11'.repeat(20), path: '/adapters/slow-lora', pricePerThousandOutput: '2000' });
        const { apiKey } = await call(admin, 'createTenant', { tenantId: 'crash' });
        await call(admin, 'creditTenant', { tenantId: 'crash', amount: '1000', reference: 'deposit-1' });
        const client = new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${doomed.httpPort}/v1`, maxRetries: 0 });
        const stream = await client.completions.create({ model: 'slow-lora', prompt: 'once upon a time', max_tokens: 300, stream: true });
        // The first token is out: the hold is on the tenant's stream. The stream stays open (closing
        // it would cancel the request, which settles the hold), and once the read models show the
        // hold (the replicas share them), the replica dies mid-request.
        const chunks = stream[Symbol.asyncIterator]();
        await chunks.next();
        const tenant = async () => call(admin, 'getTenant', { tenantId: 'crash' });
        let t = await tenant();
        for (let i = 0; i < 100 && t.held === '0'; i++) {
          await new Promise((r) => setTimeout(r, 50));
          t = await tenant();
        }
        await doomed.kill('SIGKILL');
        await chunks.next().catch(() => {}); // the connection ended with the process
        assert.equal(t.balance, '1000', 'nothing was charged');
        assert.equal(t.held, String(withPlatformFee(600n)), 'the dead replica left its hold: 300 tokens at 2, and the platform fee');
        assert.equal(BigInt(t.available), 1000n - BigInt(t.held));
        // Expiry in 10 s; the survivor's sweeper looks every 2.5 s.
        for (let i = 0; i < 200 && t.held !== '0'; i++) {
          await new Promise((r) => setTimeout(r, 100));
          t = await tenant();
        }
        assert.equal(t.held, '0', 'the hold was settled after its expiry');
        assert.equal(t.available, '1000');
        assert.equal(t.balance, '1000');
      });
    } finally {
      admin.close();
      await doomed.stop();
      await survivor.stop();
      await remote.close();
    }
  });
});
