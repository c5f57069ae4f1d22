import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { request } from 'node:http';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startFakeOpenAiServer } from '@opal/lora-runtime/testing';
import { call, signContribution, wallet } from '@opal/testkit';
import { generate, inferenceEvents, startInferenceNode } from './harness.js';

const passages = [
  'the river otter builds its den in the bank of a slow river and hunts fish at dusk',
  'copper conducts heat and electricity well and turns green when it weathers in rain',
  'a lighthouse keeper trims the wick at night so ships can find the harbour in fog',
];

describe('infini-gram engine and the OpenAI-compatible HTTP API', () => {
  let t: Awaited<ReturnType<typeof startInferenceNode>>;
  let apiKey: string;
  let client: OpenAI;
  const owner = wallet(1);

  before(async () => {
    t = await startInferenceNode();
    await call(t.ingest, 'createDatanet', { datanetId: 'nature', name: 'Nature', dataKind: 'text', license: 'CC-BY-4.0', owner: owner.address, tags: [] });
    for (const [i, p] of passages.entries()) {
      const content = new TextEncoder().encode(p);
      const nonce = BigInt(i + 1);
      await call(t.ingest, 'submitContribution', {
        datanetId: 'nature', content: Buffer.from(content), contributor: owner.address, nonce: nonce.toString(), signature: await signContribution(owner, 'nature', content, nonce),
      });
    }
    await call(t.ingest, 'publishVersion', { datanetId: 'nature' });
    await call(t.inference, 'registerAdapter', { adapterId: 'nature-v1', baseModelId: 'infini-gram', owner: owner.address, datanetVersions: ['nature@1'], pricePerThousandOutput: '1000' });
    apiKey = (await call(t.inference, 'createTenant', { tenantId: 'acme', apiKey: 'sk-test-0123456789abcdef' })).apiKey;
    await call(t.inference, 'creditTenant', { tenantId: 'acme', amount: '100000', reference: 'd1' });
    client = new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${t.httpPort}/v1`, maxRetries: 0 });
  });
  after(async () => t?.close());

  it('the openai client streams a chat completion with usage, in words from the Datanet', async () => {
    const stream = await client.chat.completions.create({
      model: 'nature-v1', messages: [{ role: 'user', content: 'the river otter' }], stream: true, stream_options: { include_usage: true }, max_tokens: 12, seed: 4,
    });
    let text = '';
    let pieces = 0;
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null = null;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (ch?.delta.content) {
        text += ch.delta.content;
        pieces++;
      }
      if (ch?.finish_reason) finish = ch.finish_reason;
    }
    assert.ok(usage, 'a usage chunk came');
    assert.equal(usage.prompt_tokens, 3);
    assert.equal(usage.completion_tokens, pieces, 'one word per token, every token streamed');
    assert.ok(finish === 'length' || finish === 'stop');
    const corpus = passages.join(' ').split(' ');
    for (const w of text.trim().split(' ')) assert.ok(corpus.includes(w), `${w} comes from the Datanet`);
    // Seeded: the same request gives the same text.
    const again = await client.chat.completions.create({ model: 'nature-v1', messages: [{ role: 'user', content: 'the river otter' }], max_tokens: 12, seed: 4 });
    assert.equal(again.choices[0]!.message.content, text);
    assert.equal(again.usage!.completion_tokens, usage.completion_tokens);
  });

  it('completions honour stop; /v1/models lists adapters with their base as parent; errors use the envelope', async () => {
    const c = await client.completions.create({ model: 'nature-v1', prompt: 'copper conducts', max_tokens: 20, stop: ['green'], seed: 1 });
    assert.ok(!c.choices[0]!.text.includes('green'));
    const models = await client.models.list();
    const m = models.data.find((x) => x.id === 'nature-v1') as unknown as { parent: string };
    assert.equal(m.parent, 'infini-gram');
    // Read-your-writes on request, as on the gRPC port (opal-consistency metadata).
    const listed = (consistency: string) => fetch(`http://127.0.0.1:${t.httpPort}/v1/models`, { headers: { authorization: `Bearer ${apiKey}`, 'Opal-Consistency': consistency } });
    const latest = await listed('latest');
    assert.equal(latest.status, 200);
    assert.ok(((await latest.json()) as { data: { id: string }[] }).data.some((x) => x.id === 'nature-v1'));
    const refused = await listed('eventually');
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /^opal-consistency: must be 'latest'/);
    await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), (e: any) => e.status === 404 && e.error?.code === 'model_not_found');
    const bad = new OpenAI({ apiKey: 'sk-wrong-wrong-wrong', baseURL: client.baseURL, maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e: any) => e.status === 401 && e.error?.type === 'invalid_request_error');
    await assert.rejects(client.completions.create({ model: 'nature-v1', prompt: 'x', max_tokens: 10_000_000 }), (e: any) => e.status === 429 && e.error?.code === 'insufficient_quota');
  });

  it('a Generate call produces InferenceCompleted with the adapter, its Datanet versions and the fee', async () => {
    const r = await generate(t.inference, apiKey, { model: 'nature-v1', prompt: 'a lighthouse keeper', maxTokens: 8, retrievedContributions: [] });
    assert.equal(r.summary.usage.completionTokens, r.chunks.length);
    assert.deepEqual(await inferenceEvents(t.node, r.summary.inferenceId), ['opal.inference.v1.InferenceCompleted']);
    const [stored] = await t.node.eventLog.readStream(`inference-${r.summary.inferenceId}`);
    const { inferenceCodec } = await import('@opal/inference');
    const e = inferenceCodec.decode(stored!)!;
    assert.equal(e.type, 'InferenceCompleted');
    if (e.type !== 'InferenceCompleted') return;
    assert.deepEqual(e.data.datanetVersions, ['nature@1']);
    assert.equal(e.data.outputText, r.text);
    assert.equal(e.data.adapterOwner, owner.address);
    assert.equal(e.data.fee?.total, r.summary.fee);
  });

  it('serves Prometheus metrics with bounded labels', async () => {
    const text = await (await fetch(`http://127.0.0.1:${t.httpPort}/metrics`)).text();
    for (const name of ['opal_inference_time_to_first_token_seconds', 'opal_inference_time_per_output_token_seconds', 'opal_inference_e2e_request_latency_seconds', 'opal_inference_request_queue_time_seconds', 'opal_inference_adapters_resident', 'opal_inference_num_requests_waiting_adapter']) {
      assert.ok(text.includes(name), name);
    }
    assert.ok(!text.includes('nature-v1'), 'no per-adapter labels');
  });

  it('refuses an infini-gram adapter on a Datanet version that is not published, and takes its id once corrected', async () => {
    const register = (datanetVersions: string[]) => call(t.inference, 'registerAdapter', { adapterId: 'nature-typo', baseModelId: 'infini-gram', owner: owner.address, datanetVersions, pricePerThousandOutput: '1000' });
    await assert.rejects(register(['nature@99']), (e: ServiceError) => e.code === status.NOT_FOUND && /^datanet_versions\[0\]: nature@99 is not a published Datanet version/.test(e.details));
    await assert.rejects(register(['nowhere@1']), (e: ServiceError) => e.code === status.NOT_FOUND && /nowhere@1/.test(e.details));
    assert.equal((await register(['nature@1'])).adapterId, 'nature-typo');
  });

  it('answers an error met once the gRPC stream is open with its own status, not INTERNAL', async () => {
    // A remote base model whose server has gone: the engine fails at its first token.
    const remote = await startFakeOpenAiServer({ baseModel: 'gone-base' });
    await call(t.inference, 'registerBaseModel', { baseModelId: 'gone', kind: 'remote', endpoint: remote.url, remoteName: 'gone-base' });
    await remote.close();
    const before = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    await assert.rejects(generate(t.inference, apiKey, { model: 'gone', prompt: 'hello', maxTokens: 4 }), (e: ServiceError) => e.code === status.UNAVAILABLE && !/internal error/.test(e.details));
    const after = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    assert.deepEqual([after.balance, after.held], [before.balance, '0'], 'nothing charged, nothing held');
  });

  // Last: it stops the node.
  it('a completion running when the node stops is answered; a connection after is refused', async () => {
    const body = JSON.stringify({ model: 'nature-v1', prompt: 'copper conducts', max_tokens: 6, seed: 2 });
    const half = Math.floor(body.length / 2);
    // The request is under way (half its body sent) when the stop begins.
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: t.httpPort, path: '/v1/completions', method: 'POST', agent: false, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.write(body.slice(0, half));
      setTimeout(() => req.end(body.slice(half)), 500);
    });
    await new Promise((r) => setTimeout(r, 100));
    const closed = t.node.close();
    const res = await answered;
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).usage.completion_tokens, 6);
    await closed;
    await assert.rejects(fetch(`http://127.0.0.1:${t.httpPort}/metrics`));
  });
});
