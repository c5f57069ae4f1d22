import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { OpalProcess, call, clientStream, grpcClient, rng, runOpal, signContributionFast, text, vocabulary, wallet } from '@opal/testkit';

// The whole loop across services, as a user drives it against `opal up`: contributions become a
// version, an adapter serves it, a tenant pays for a completion through the OpenAI API, and the
// attribution service credits the contributions the output came from, verifiably.
describe('from contribution to attributed inference', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-loop-'));
  const node = new OpalProcess(dir);
  let ingest: any;
  let inference: any;
  let attribution: any;

  before(async () => {
    await node.start();
    ingest = grpcClient(node.url, 'ingest');
    inference = grpcClient(node.url, 'inference');
    attribution = grpcClient(node.url, 'attribution');
  });
  after(async () => {
    for (const c of [ingest, inference, attribution]) c?.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a paid completion gets a receipt crediting its sources, and opal attribution verify confirms it', async () => {
    const owner = wallet(0).address;
    await call(ingest, 'createDatanet', { datanetId: 'loop', name: 'Loop', dataKind: 'text', license: 'CC-BY-4.0', owner });
    const r = rng(11);
    const vocab = vocabulary(3000);
    const requests = Array.from({ length: 40 }, (_, i) => {
      const w = wallet(20 + (i % 4));
      const content = Buffer.from(text(r, vocab, 500));
      return { datanetId: 'loop', content, contributor: w.address, nonce: String(i + 1), signature: signContributionFast(w, 'loop', content, BigInt(i + 1)) };
    });
    assert.equal((await clientStream(ingest, 'submitContributions', requests)).accepted, 40);
    await call(ingest, 'publishVersion', { datanetId: 'loop' });
    await call(inference, 'registerAdapter', { adapterId: 'loop-lm', baseModelId: 'infini-gram', owner, datanetVersions: ['loop@1'], pricePerThousandOutput: '2000' });
    const { apiKey } = await call(inference, 'createTenant', { tenantId: 'acme' });
    await call(inference, 'creditTenant', { tenantId: 'acme', amount: '1000000', reference: 'deposit-1' });

    const client = new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${node.httpPort}/v1`, maxRetries: 0 });
    const prompt = requests[7]!.content.toString().split(' ').slice(0, 6).join(' ');
    const completion = await client.completions.create({ model: 'loop-lm', prompt, max_tokens: 30, seed: 3 });
    const inferenceId = (completion as unknown as { opal: { inference_id: string } }).opal.inference_id;
    assert.ok(completion.choices[0]!.text.length > 0);

    let receipt: any;
    for (let i = 0; i < 100 && !receipt; i++) {
      receipt = await call(attribution, 'getReceipt', { inferenceId }).catch(() => undefined);
      if (!receipt) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(receipt, 'a receipt follows the inference');
    assert.equal(receipt.weights.reduce((n: number, w: any) => n + w.weightPpm, 0), 1_000_000);
    assert.ok(receipt.spans.length > 0);
    const contributors = new Set(requests.map((x) => x.contributor));
    for (const w of receipt.weights) assert.ok(contributors.has(w.contributor), `${w.contributor} contributed to the Datanet`);

    const verified = await runOpal(['attribution', 'verify', inferenceId], { OPAL_DATA_DIR: dir });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^match/m);
    const tenant = await call(inference, 'getTenant', { tenantId: 'acme' });
    assert.ok(BigInt(tenant.balance) < 1_000_000n, 'the fee was charged');
  });
});
