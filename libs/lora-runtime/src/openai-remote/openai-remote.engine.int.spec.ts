import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAiRemoteEngine } from './openai-remote.engine.js';
import { InferenceError } from '../inference.errors.js';
import { AdapterResidency } from '../residency/adapter-residency.js';
import { collect } from '../testing/collect.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../testing/openai-compatible.fake-server.js';

describe('OpenAI-compatible remote engine against a local server', () => {
  let server: FakeOpenAiServer;
  let engine: OpenAiRemoteEngine;

  before(async () => {
    server = await startFakeOpenAiServer({ baseModel: 'tiny-base', tokenDelayMs: 1 });
    engine = new OpenAiRemoteEngine({ baseUrl: server.url });
    await engine.loadBaseModel({ id: 'tiny', remoteName: 'tiny-base' });
    for (let i = 1; i <= 8; i++) await engine.loadAdapter({ id: `a${i}`, baseModelId: 'tiny', path: `/adapters/a${i}` });
  });
  after(async () => {
    await engine.close();
    await server.close();
  });

  it('registers adapters at runtime and streams completions that differ per adapter', async () => {
    assert.deepEqual(server.loadedAdapters().sort(), ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8']);
    await engine.loadAdapter({ id: 'a1', baseModelId: 'tiny', path: '/adapters/a1' }); // already loaded is fine
    const a1 = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a1', prompt: 'hello', maxTokens: 12 }));
    const a2 = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a2', prompt: 'hello', maxTokens: 12 }));
    const base = await collect(engine.generate({ baseModelId: 'tiny', prompt: 'hello', maxTokens: 12 }));
    assert.notEqual(a1.text, a2.text);
    assert.notEqual(a1.text, base.text);
    assert.equal(a1.done.finishReason, 'length');
    assert.equal(a1.streamedTokens, a1.done.usage.completionTokens);
    assert.equal(a1.done.usage.promptTokens, 2);
  });

  it('16 concurrent requests over 8 adapters each match the same request run alone', async () => {
    const reqs = Array.from({ length: 16 }, (_, i) => ({ baseModelId: 'tiny', adapterId: `a${(i % 8) + 1}`, prompt: `p${i % 3}`, maxTokens: 16, ...(i % 2 ? { temperature: 0.7, seed: i } : {}) }));
    const alone = [];
    for (const r of reqs) alone.push((await collect(engine.generate(r))).text);
    const together = await Promise.all(reqs.map((r) => collect(engine.generate(r))));
    assert.deepEqual(together.map((c) => c.text), alone);
  });

  it('stop sequences end the stream and usage still counts every generated token', async () => {
    const plain = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a3', prompt: 'x', maxTokens: 20 }));
    const word = plain.text.split(' ')[4]!;
    const cut = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a3', prompt: 'x', maxTokens: 20, stop: [` ${word}`] }));
    assert.equal(cut.done.finishReason, 'stop');
    assert.equal(cut.text, plain.text.slice(0, plain.text.indexOf(` ${word}`)));
    assert.equal(cut.streamedTokens + cut.done.stopTokens, cut.done.usage.completionTokens);
  });

  it('cancellation closes the server stream (the slot is freed there)', async () => {
    const ctrl = new AbortController();
    let seen = 0;
    let finish;
    for await (const c of engine.generate({ baseModelId: 'tiny', adapterId: 'a4', prompt: 'x', maxTokens: 10_000, signal: ctrl.signal })) {
      if (c.type === 'done') finish = c.finishReason;
      else if (++seen === 3) ctrl.abort();
    }
    assert.equal(finish, 'cancelled');
    for (let i = 0; i < 50 && server.activeStreams() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.activeStreams(), 0);
    for await (const c of engine.generate({ baseModelId: 'tiny', adapterId: 'a4', prompt: 'x', maxTokens: 10_000 })) if (c.type === 'token') break;
    for (let i = 0; i < 50 && server.activeStreams() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.activeStreams(), 0);
  });

  it('an unknown adapter is refused, and residency drives runtime load and unload', async () => {
    await assert.rejects(collect(engine.generate({ baseModelId: 'tiny', adapterId: 'zz', prompt: 'x', maxTokens: 2 })), (e: unknown) => e instanceof InferenceError && e.code === 'ADAPTER_NOT_FOUND');
    const res = new AdapterResidency({ engine, maxResidentPerBase: 2, maxHostAdapters: 0 });
    for (let i = 1; i <= 3; i++) res.register({ id: `r${i}`, baseModelId: 'tiny', path: `/adapters/r${i}` });
    for (let i = 1; i <= 3; i++) await collect(res.generate({ baseModelId: 'tiny', adapterId: `r${i}`, prompt: 'x', maxTokens: 2 }));
    assert.deepEqual(server.loadedAdapters().filter((a) => a.startsWith('r')).sort(), ['r2', 'r3']);
  });
});
