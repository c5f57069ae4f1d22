import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { generateLoraAdapter, generateTinyLlama, validateBaseModel, writeTinyModelSet } from '@opal/gguf';
import { call, wallet, withPlatformFee } from '@opal/testkit';
import { generate, inferenceEvents, startInferenceNode } from './harness.js';

describe('inference service with generated GGUF models (llama.cpp, CPU)', () => {
  let t: Awaited<ReturnType<typeof startInferenceNode>>;
  let apiKey: string;
  let set: Awaited<ReturnType<typeof writeTinyModelSet>>;
  const owner = wallet(7).address;

  before(async () => {
    t = await startInferenceNode();
    set = await writeTinyModelSet(join(t.dir, 'models'), { adapters: 8 });
    await call(t.inference, 'registerBaseModel', { baseModelId: 'tiny', kind: 'gguf', path: set.base.path });
    for (const [i, path] of set.adapterPaths.entries()) {
      await call(t.inference, 'registerAdapter', {
        adapterId: `a${i}`, baseModelId: 'tiny', path, owner, datanetVersions: ['notes@1'], pricePerThousandInput: '1000', pricePerThousandOutput: '2000',
      });
    }
    apiKey = (await call(t.inference, 'createTenant', { tenantId: 'acme' })).apiKey;
    await call(t.inference, 'creditTenant', { tenantId: 'acme', amount: '1000000', reference: 'deposit-1' });
  });
  after(async () => t?.close());

  it('refuses a corrupt or mismatched GGUF at registration, naming the problem', async () => {
    const bad = join(t.dir, 'models', 'corrupt.gguf');
    await writeFile(bad, Buffer.from('GGUF but not really'));
    await assert.rejects(call(t.inference, 'registerAdapter', { adapterId: 'bad', baseModelId: 'tiny', path: bad, owner }), (e: any) => e.code === status.INVALID_ARGUMENT && /path/.test(e.details));
    const otherBase = await (async () => {
      const p = join(t.dir, 'models', 'wide.gguf');
      await writeFile(p, generateTinyLlama({ embeddingLength: 128, seed: 3 }));
      return validateBaseModel(p);
    })();
    const mismatched = join(t.dir, 'models', 'mismatched.gguf');
    await writeFile(mismatched, generateLoraAdapter(otherBase, { seed: 1 }));
    await assert.rejects(call(t.inference, 'registerAdapter', { adapterId: 'mm', baseModelId: 'tiny', path: mismatched, owner }), (e: any) => e.code === status.INVALID_ARGUMENT && /SHAPE_MISMATCH/.test(e.details));
    await assert.rejects(call(t.inference, 'registerAdapter', { adapterId: 'base-as-lora', baseModelId: 'tiny', path: join(t.dir, 'models', 'base.gguf'), owner }), (e: any) => /NOT_AN_ADAPTER/.test(e.details));
    await assert.rejects(call(t.inference, 'registerBaseModel', { baseModelId: 'x', kind: 'gguf', path: bad }), (e: any) => e.code === status.INVALID_ARGUMENT);
    await assert.rejects(call(t.inference, 'registerAdapter', { adapterId: 'a0', baseModelId: 'tiny', path: join(t.dir, 'models', 'adapter-1.gguf'), owner }), (e: any) => e.code === status.ALREADY_EXISTS);
    // The same registration again (a retry whose first answer was lost) is answered as done.
    const again = { adapterId: 'a0', baseModelId: 'tiny', path: set.adapterPaths[0], owner, datanetVersions: ['notes@1'], pricePerThousandInput: '1000', pricePerThousandOutput: '2000' };
    await call(t.inference, 'registerAdapter', again);
    await assert.rejects(call(t.inference, 'registerAdapter', { ...again, pricePerThousandOutput: '1' }), (e: any) => e.code === status.ALREADY_EXISTS);
    const models = (await call(t.inference, 'listModels', { baseModelId: 'tiny' })).models;
    assert.equal(models.length, 8);
  });

  it('streams tokens then a summary, records InferenceCompleted and charges the balance', async () => {
    const before = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    const r = await generate(t.inference, apiKey, { model: 'a0', prompt: 'hello world', maxTokens: 12 });
    assert.ok(r.chunks.length > 0);
    const s = r.summary;
    assert.equal(s.finishReason, 'length');
    assert.equal(s.usage.completionTokens, 12);
    assert.ok(s.timeToFirstTokenMs > 0 && s.tokensPerSecond > 0);
    assert.deepEqual(await inferenceEvents(t.node, s.inferenceId), ['opal.inference.v1.InferenceCompleted']);
    const fee = BigInt(s.fee);
    assert.equal(fee, withPlatformFee(BigInt(Math.ceil((1000 * s.usage.promptTokens) / 1000)) + BigInt(Math.ceil((2000 * 12) / 1000))));
    const after = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    assert.equal(BigInt(after.balance), BigInt(before.balance) - fee);
    // The request's hold was settled with its fee before the summary went out.
    assert.equal(after.held, '0');
    assert.equal(after.available, after.balance);
  });

  it('16 concurrent requests over 8 adapters give each request the output it gets alone', async () => {
    const req = (i: number) => ({ model: `a${i % 8}`, prompt: `the data ${i % 8}`, maxTokens: 16 });
    const alone: string[] = [];
    for (let i = 0; i < 8; i++) alone.push((await generate(t.inference, apiKey, req(i))).text);
    assert.ok(new Set(alone).size > 1, 'adapters change the output');
    const together = await Promise.all(Array.from({ length: 16 }, (_, i) => generate(t.inference, apiKey, req(i))));
    together.forEach((r, i) => assert.equal(r.text, alone[i % 8], `request ${i} (adapter a${i % 8})`));
  });

  it('a cancelled stream is charged for what it produced, and frees its slot', async () => {
    const before = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    const r = await generate(t.inference, apiKey, { model: 'a1', prompt: 'tell me', maxTokens: 200 }, { cancelAfter: 2 });
    assert.equal(r.summary, undefined);
    // Its hold is settled with the fee of the tokens produced before the cut (at least the two read).
    let after = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    for (let i = 0; i < 100 && (after.held !== '0' || after.balance === before.balance); i++) {
      await new Promise((res) => setTimeout(res, 50));
      after = await call(t.inference, 'getTenant', { tenantId: 'acme' });
    }
    assert.equal(after.held, '0');
    const charged = BigInt(before.balance) - BigInt(after.balance);
    assert.ok(charged >= withPlatformFee(BigInt(Math.ceil((2000 * 2) / 1000))), `charged ${charged}`);
    assert.ok(charged <= withPlatformFee(8n + BigInt(Math.ceil((2000 * 200) / 1000))), `at most its hold: ${charged}`);
    // Both slots of a1 must be free again: two more requests complete.
    const again = await Promise.all([0, 1].map(() => generate(t.inference, apiKey, { model: 'a1', prompt: 'tell me', maxTokens: 4 })));
    again.forEach((x) => assert.equal(x.summary.usage.completionTokens, 4));
  });

  it('refuses before any work: unknown key, unknown model, a balance that cannot cover the quote', async () => {
    await assert.rejects(generate(t.inference, 'nope-nope-nope-nope', { model: 'a0', prompt: 'x', maxTokens: 1 }), (e: any) => e.code === status.UNAUTHENTICATED);
    await assert.rejects(generate(t.inference, apiKey, { model: 'missing', prompt: 'x', maxTokens: 1 }), (e: any) => e.code === status.NOT_FOUND);
    const poor = (await call(t.inference, 'createTenant', { tenantId: 'poor' })).apiKey;
    await call(t.inference, 'creditTenant', { tenantId: 'poor', amount: '5', reference: 'r1' });
    const logBefore = (await t.node.eventLog.stats()).events;
    await assert.rejects(generate(t.inference, poor, { model: 'a0', prompt: 'hello', maxTokens: 100 }), (e: any) => e.code === status.RESOURCE_EXHAUSTED && /balance/.test(e.details));
    assert.equal((await t.node.eventLog.stats()).events, logBefore, 'nothing was recorded');
  });
});
