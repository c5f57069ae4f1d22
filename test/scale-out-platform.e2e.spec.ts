import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { OpalProcess, call, clientStream, grpcClient, rng, runOpal, signContributionFast, text, vocabulary, wallet } from '@opal/testkit';
import { status } from '@grpc/grpc-js';
import { brokers, deleteTopics, dropDb, mongoBase, skip } from './scale-out/fault-kit.js';

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

/** The loop through the given clients; returns the inference id once its receipt checks out. */
async function paidCompletionIsAttributed(c: Cluster, clients: Record<'ingest' | 'inference' | 'attribution', any>, httpPort: number, dir: string): Promise<string> {
  const { ingest, inference, attribution } = clients;
  const owner = wallet(0).address;
  await call(ingest, 'createDatanet', { datanetId: 'loop', name: 'Loop', dataKind: 'text', license: 'CC-BY-4.0', owner });
  const r = rng(12);
  const vocab = vocabulary(3000);
  const requests = Array.from({ length: 40 }, (_, i) => {
    const w = wallet(20 + (i % 4));
    const content = Buffer.from(text(r, vocab, 500));
    return { datanetId: 'loop', content, contributor: w.address, nonce: String(i + 1), signature: signContributionFast(w, 'loop', content, BigInt(i + 1)) };
  });
  assert.equal((await clientStream(ingest, 'submitContributions', requests)).accepted, 40);
  await call(ingest, 'publishVersion', { datanetId: 'loop' });
  // Scaled out, the inference service learns of the version through its own read model.
  let registered = false;
  for (let i = 0; i < 300 && !registered; i++) {
    registered = await call(inference, 'registerAdapter', { adapterId: 'loop-lm', baseModelId: 'infini-gram', owner, datanetVersions: ['loop@1'], pricePerThousandOutput: '2000' }).then(
      () => true,
      (e: any) => (e.code === status.FAILED_PRECONDITION || e.code === status.NOT_FOUND ? false : Promise.reject(e)),
    );
    if (!registered) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(registered, 'the adapter registers once the version is known');
  const { apiKey } = await call(inference, 'createTenant', { tenantId: 'acme' });
  await call(inference, 'creditTenant', { tenantId: 'acme', amount: '1000000', reference: 'deposit-1' });

  const client = new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${httpPort}/v1`, maxRetries: 0 });
  const prompt = requests[7]!.content.toString().split(' ').slice(0, 6).join(' ');
  const completion = await client.completions.create({ model: 'loop-lm', prompt, max_tokens: 30, seed: 3 });
  const inferenceId = (completion as unknown as { opal: { inference_id: string } }).opal.inference_id;
  assert.ok(completion.choices[0]!.text.length > 0);

  let receipt: any;
  for (let i = 0; i < 300 && !receipt; i++) {
    receipt = await call(attribution, 'getReceipt', { inferenceId }).catch(() => undefined);
    if (!receipt) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(receipt, 'a receipt follows the inference');
  assert.equal(receipt.weights.reduce((n: number, w: any) => n + w.weightPpm, 0), 1_000_000);
  assert.ok(receipt.spans.length > 0);
  const contributors = new Set(requests.map((x) => x.contributor));
  for (const w of receipt.weights) assert.ok(contributors.has(w.contributor), `${w.contributor} contributed to the Datanet`);
  const tenant = await call(inference, 'getTenant', { tenantId: 'acme' });
  assert.ok(BigInt(tenant.balance) < 1_000_000n, 'the fee was charged');

  // An auditor's machine: the log and the content are the cluster's, the index files are not
  // there; verify builds them from the manifest in the log and checks them against its hash.
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
  const node = new OpalProcess(dir, { env: c.env, ...logged });
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
    inferenceId = await paidCompletionIsAttributed(c, clients as never, node.httpPort, dir);
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
    assert.equal((await digest()).digest, live.digest);
    const receipt = await call(clients.attribution, 'getReceipt', { inferenceId });
    assert.equal(receipt.inferenceId, inferenceId);
  });
});

describe('the platform scaled out: each service in its own opal serve process', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-platform-serve-'));
  const c = cluster('serve');
  const services = ['ingest', 'inference', 'attribution', 'settlement', 'governance'] as const;
  // Each with a data folder of its own (attribution keeps its index files there).
  const nodes = Object.fromEntries(
    services.map((s) => [s, new OpalProcess(join(dir, s), { command: ['serve', s], env: c.env, ...logged })]),
  ) as Record<(typeof services)[number], OpalProcess>;
  const clients: Record<string, any> = {};

  before(async () => {
    for (const s of services) await nodes[s].start();
    for (const s of ['ingest', 'inference', 'attribution'] as const) clients[s] = grpcClient(nodes[s].url, s);
  });
  after(async () => {
    for (const x of Object.values(clients)) x?.close();
    for (const s of services) await nodes[s].stop();
    rmSync(dir, { recursive: true, force: true });
    if (!skip) await dropCluster(c);
  });

  it('a paid completion gets a receipt crediting its sources, across processes, and verify confirms it', async () => {
    await paidCompletionIsAttributed(c, clients as never, nodes.inference.httpPort, dir);
    const governance = grpcClient(nodes.governance.url, 'governance');
    const params = await call(governance, 'getParameters', {});
    governance.close();
    assert.ok(params.parameters.some((p: any) => p.name === 'attribution.min_span_tokens'), 'governance serves its parameters from MongoDB');
  });
});
