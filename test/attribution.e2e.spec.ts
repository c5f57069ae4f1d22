import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { eventCatalog, serviceNames } from '@opal/contracts';
import { startNode, type RunningNode } from '@opal/cli';
import { attributionCodec } from '@opal/attribution';
import { loadConfig } from '@opal/service-runtime';
import { call, freePort, grpcClient, rng, runOpal, signContribution, text, vocabulary, wallet } from '@opal/testkit';

const enc = new TextEncoder();
const until = async <T>(what: string, get: () => Promise<T | undefined>): Promise<T> => {
  for (let i = 0; i < 300; i++) {
    const v = await get().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

// The node runs in this process (startNode), so the test can append the InferenceCompleted events
// the inference service would emit: the embedded log has one writer, the node.
describe('Proof of attribution end to end', () => {
  let dir: string;
  let node: RunningNode;
  let ingest: any;
  let attribution: any;
  let admin: any;
  const datanetId = 'legal-notes';
  const authors = [wallet(500), wallet(501), wallet(502)];
  const contributions: { id: string; contributor: string; content: string }[] = [];

  const completed = (inferenceId: string, outputText: string, datanetVersions: string[], retrieved: string[] = []) => ({
    type: 'opal.inference.v1.InferenceCompleted',
    occurredAt: Date.now(),
    payload: eventCatalog.get('opal.inference.v1.InferenceCompleted')!.encode({
      inferenceId, tenant: 'acme', adapterId: 'legal-lora', baseModelId: 'tiny', datanetVersions, outputText, retrievedContributions: retrieved, usage: undefined, fee: undefined, adapterOwner: wallet(9).address,
    }),
  });
  const receiptOf = (inferenceId: string) => until<any>(`receipt ${inferenceId}`, () => call(attribution, 'getReceipt', { inferenceId }));
  const quote = (c: number, from: number, n: number) => contributions[c]!.content.split(' ').slice(from, from + n).join(' ');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-attr-e2e-'));
    // The inference service reads its HTTP port from the environment: a free one, not 8080, which
    // another test or a local node may hold.
    process.env['OPAL_HTTP_PORT'] = String(await freePort());
    node = await startNode(loadConfig({ OPAL_DATA_DIR: dir, OPAL_GRPC_PORT: String(await freePort()), OPAL_LOG_LEVEL: 'warn' }), serviceNames);
    ingest = grpcClient(node.url, 'ingest');
    attribution = grpcClient(node.url, 'attribution');
    admin = grpcClient(node.url, 'admin');
  });
  after(async () => {
    for (const c of [ingest, attribution, admin]) c?.close();
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the index of a published version and announces it', async () => {
    await call(ingest, 'createDatanet', { datanetId, name: 'Legal notes', dataKind: 'text', license: 'CC-BY-4.0', owner: wallet(0).address });
    const r = rng(7);
    const vocab = vocabulary(3000);
    for (let i = 0; i < 9; i++) {
      const w = authors[i % 3]!;
      const content = text(r, vocab, 700);
      const nonce = BigInt(i + 1);
      const res = await call(ingest, 'submitContribution', { datanetId, content: Buffer.from(content), contributor: w.address, nonce: nonce.toString(), signature: await signContribution(w, datanetId, enc.encode(content), nonce) });
      assert.equal(res.status, 'ACCEPTED', res.detail);
      contributions.push({ id: res.contributionId, contributor: w.address, content });
    }
    await assert.rejects(call(attribution, 'attribute', { text: 'anything', datanetVersions: [`${datanetId}@1`] }), (e: any) => e.code === status.NOT_FOUND && /datanet_versions/.test(e.details));
    assert.equal((await call(ingest, 'publishVersion', { datanetId })).version, 1);
    const index = await until('index', async () => (await call(attribution, 'listIndexes', { datanetId })).indexes[0]);
    assert.equal(index.version, 1);
    assert.match(index.indexHash, /^[0-9a-f]{64}$/);
    assert.ok(Number(index.tokens) > 9 * 50);
  });

  it('attributes an InferenceCompleted once, with weights summing to 1,000,000, and opal attribution verify confirms it', async () => {
    const output = `In short: ${quote(0, 10, 25)}. Moreover ${quote(4, 30, 20)}; the end.`;
    await node.eventLog.append('inference-inf-1', [completed('inf-1', output, [`${datanetId}@1`], [contributions[8]!.id])], { expectedVersion: 'no_stream', producer: 'inference' });
    const receipt = await receiptOf('inf-1');
    assert.equal(receipt.weights.reduce((s: number, w: any) => s + w.weightPpm, 0), 1_000_000);
    assert.deepEqual(receipt.datanetVersions, [`${datanetId}@1`]);
    const credited = new Set(receipt.spans.flatMap((s: any) => s.contributions));
    assert.ok(credited.has(contributions[0]!.id) && credited.has(contributions[4]!.id), 'both quoted contributions are credited');
    const span = receipt.spans.find((s: any) => s.contributions.includes(contributions[0]!.id));
    assert.equal(output.slice(span.outputStart, span.outputStart + span.length), quote(0, 10, 25));
    assert.deepEqual(new Set(receipt.weights.map((w: any) => w.contributor)), new Set([authors[0]!.address, authors[1]!.address, authors[2]!.address]), 'the retrieved contribution is credited too');

    // The same text through Attribute gives the same weights: one method, one set of parameters.
    const adhoc = await call(attribution, 'attribute', { text: output, datanetVersions: [`${datanetId}@1`], retrievedContributions: [contributions[8]!.id] });
    assert.deepEqual(adhoc.weights, receipt.weights);
    assert.equal(adhoc.outputHash, receipt.outputHash);

    // A redelivered InferenceCompleted (same inference, another copy in the log) changes nothing.
    await node.eventLog.append('inference-inf-1-again', [completed('inf-1', 'other text entirely', [`${datanetId}@1`])], { expectedVersion: 'no_stream', producer: 'inference' });
    // Receipts are written in log order: once a later inference has its receipt, the copy was handled.
    await node.eventLog.append('inference-inf-marker', [completed('inf-marker', 'nothing quoted', [`${datanetId}@1`])], { expectedVersion: 'no_stream', producer: 'inference' });
    assert.deepEqual((await receiptOf('inf-marker')).weights, []);
    assert.equal((await node.eventLog.readStream('attribution-inf-1')).length, 1);

    const verified = await runOpal(['attribution', 'verify', 'inf-1'], { OPAL_DATA_DIR: dir });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^match: receipt of inf-1/);
  });

  it('opal attribution verify detects a tampered receipt', async () => {
    const forged = {
      inferenceId: 'inf-forged', indexHashes: [], methodVersion: 'opal-spans/1', spans: [], weights: [{ contributor: wallet(666).address, weightPpm: 1_000_000 }],
      outputHash: '', datanetVersions: [], retrievedContributions: [], params: undefined, outputTokens: 0, combinedIndexHash: '',
    };
    await node.eventLog.append('attribution-inf-forged', [attributionCodec.encode({ type: 'AttributionComputed', data: forged }, Date.now())], { expectedVersion: 'no_stream', producer: 'mallory' });
    await node.eventLog.append('inference-inf-forged', [completed('inf-forged', quote(2, 0, 30), [`${datanetId}@1`])], { expectedVersion: 'no_stream', producer: 'inference' });
    await receiptOf('inf-forged');
    const verified = await runOpal(['attribution', 'verify', 'inf-forged'], { OPAL_DATA_DIR: dir });
    assert.equal(verified.code, 1, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /MISMATCH: .*weights/);
    const missing = await runOpal(['attribution', 'verify', 'no-such-inference'], { OPAL_DATA_DIR: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /not found/);
  });

  it('traces an output with document snippets, and refuses bad requests by field', async () => {
    const t = await call(attribution, 'trace', { text: `${quote(3, 5, 12)} zzqx`, datanetVersions: [`${datanetId}@1`], maxDocuments: 2 });
    const kept = t.spans.find((s: any) => s.verdict === 'kept');
    assert.equal(kept.documents[0].contributionId, contributions[3]!.id);
    assert.match(kept.documents[0].snippet, /\[.+\]/);
    await assert.rejects(call(attribution, 'attribute', { text: '', datanetVersions: [`${datanetId}@1`] }), (e: any) => e.code === status.INVALID_ARGUMENT && /text/.test(e.details));
    await assert.rejects(call(attribution, 'attribute', { text: 'x', datanetVersions: ['legal notes'] }), (e: any) => e.code === status.INVALID_ARGUMENT && /datanet_versions/.test(e.details));
    await assert.rejects(call(attribution, 'attribute', { text: 'x', datanetVersions: [`${datanetId}@1`], retrievedContributions: ['0xnope'] }), (e: any) => e.code === status.INVALID_ARGUMENT && /retrieved_contributions/.test(e.details));
    await assert.rejects(call(attribution, 'trace', { text: 'x', datanetVersions: [`${datanetId}@7`] }), (e: any) => e.code === status.NOT_FOUND && /legal-notes@7/.test(e.details));
    await assert.rejects(call(attribution, 'getReceipt', { inferenceId: 'nope' }), (e: any) => e.code === status.NOT_FOUND && /inference_id/.test(e.details));
  });

  it('opal replay rebuilds the same state digest, attribution read models included', async () => {
    const live = await call(admin, 'getStateDigest', {});
    const replay = await runOpal(['replay', '--json'], { OPAL_DATA_DIR: dir });
    assert.equal(replay.code, 0, replay.stderr);
    const r = JSON.parse(replay.stdout);
    assert.ok(r.projections.some((p: any) => p.projection === 'attribution.versions'));
    assert.equal(r.digest, live.digest);
    // Each read model with the version of its projection that built it, live and replayed alike.
    const versions = (ps: any[]) => Object.fromEntries(ps.map((p) => [p.projection, p.version]));
    assert.deepEqual(versions(r.projections), versions(live.projections));
    const raised: Record<string, number> = { 'inference.models': 2, 'inference.tenants': 2 };
    assert.ok(r.projections.every((p: any) => p.version === (raised[p.projection] ?? 1)), JSON.stringify(versions(r.projections)));
  });
});
