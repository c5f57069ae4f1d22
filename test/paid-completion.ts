import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { call, clientStream, rng, signContributionFast, text, vocabulary, wallet } from '@opal/testkit';

export type LoopClients = { readonly ingest: any; readonly inference: any; readonly attribution: any };

/**
 * The whole loop across services, as a user drives it: 40 signed contributions to a new Datanet
 * `loop`, its first version, an infini-gram adapter serving it, a tenant with a deposit paying for
 * a completion through the OpenAI API, and the attribution receipt that follows, checked: weights
 * summing to 1,000,000, spans found, only the Datanet's contributors credited, the fee charged.
 * Returns the inference id.
 */
export async function paidCompletionIsAttributed(clients: LoopClients, httpPort: number, seed: number): Promise<string> {
  const { ingest, inference, attribution } = clients;
  const owner = wallet(0).address;
  await call(ingest, 'createDatanet', { datanetId: 'loop', name: 'Loop', dataKind: 'text', license: 'CC-BY-4.0', owner });
  // What a user wrote a moment ago is found at once in every mode, as they go: a query that finds
  // nothing looks again once the read models have caught up with the log.
  assert.equal((await call(ingest, 'getDatanet', { datanetId: 'loop' })).name, 'Loop');
  const r = rng(seed);
  const vocab = vocabulary(3000);
  const requests = Array.from({ length: 40 }, (_, i) => {
    const w = wallet(20 + (i % 4));
    const content = Buffer.from(text(r, vocab, 500));
    return { datanetId: 'loop', content, contributor: w.address, nonce: String(i + 1), signature: signContributionFast(w, 'loop', content, BigInt(i + 1)) };
  });
  const submitted = await clientStream(ingest, 'submitContributions', requests);
  assert.equal(submitted.accepted, 40);
  assert.equal((await call(ingest, 'getContribution', { contributionId: submitted.results[39].contributionId })).status, 'ACCEPTED');
  const published = await call(ingest, 'publishVersion', { datanetId: 'loop' });
  const manifest = await call(ingest, 'getVersionManifest', { datanetId: 'loop', version: 0 });
  assert.equal(manifest.version, 1);
  assert.equal(manifest.merkleRoot, published.merkleRoot);
  assert.equal(manifest.entries.length, 40);
  await call(inference, 'registerAdapter', { adapterId: 'loop-lm', baseModelId: 'infini-gram', owner, datanetVersions: ['loop@1'], pricePerThousandOutput: '2000' });
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
  return inferenceId;
}
