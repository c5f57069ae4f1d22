import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyModelSet, type TinyModelSet } from '@opal/gguf';
import { LlamaCppEngine } from './llama-cpp.engine.js';
import { collect } from '../testing/collect.js';

const prompt = 'hello world, the data';

describe('llama.cpp engine with generated models', () => {
  let dir: string;
  let set: TinyModelSet;
  let engine: LlamaCppEngine;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-llama-'));
    set = await writeTinyModelSet(dir, { adapters: 8 });
    engine = new LlamaCppEngine({ threads: 1, slotsPerAdapter: 2, gpu: false });
    await engine.loadBaseModel({ id: 'tiny', path: set.base.path });
    for (let i = 0; i < 8; i++) await engine.loadAdapter({ id: `a${i + 1}`, baseModelId: 'tiny', path: set.adapterPaths[i]! });
    await engine.loadAdapter({ id: 'a1-zero', baseModelId: 'tiny', path: set.adapterPaths[0]!, scale: 0 });
  });
  after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an adapter changes the greedy output and scale 0 reproduces the base exactly', async () => {
    const base = await collect(engine.generate({ baseModelId: 'tiny', prompt, maxTokens: 48 }));
    const a1 = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a1', prompt, maxTokens: 48 }));
    const a2 = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a2', prompt, maxTokens: 48 }));
    const zero = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a1-zero', prompt, maxTokens: 48 }));
    assert.equal(base.done.usage.completionTokens, 48);
    assert.notEqual(a1.text, base.text);
    assert.notEqual(a2.text, a1.text);
    assert.equal(zero.text, base.text);
  });

  it('16 concurrent requests over 8 adapters each match the same request run alone', async () => {
    const reqs = Array.from({ length: 16 }, (_, i) => ({
      baseModelId: 'tiny',
      adapterId: `a${(i % 8) + 1}`,
      prompt: `${prompt} ${i % 3 === 0 ? 'fee' : 'reward'}`,
      maxTokens: 24,
      ...(i % 2 === 1 ? { temperature: 0.8, seed: 1000 + i } : {}),
    }));
    const alone = [];
    for (const r of reqs) alone.push((await collect(engine.generate(r))).text);
    const together = await Promise.all(reqs.map((r) => collect(engine.generate(r))));
    assert.deepEqual(together.map((c) => c.text), alone);
    for (let i = 1; i <= 8; i++) assert.equal(await engine.freeSlots('tiny', `a${i}`), 2);
  });

  it('usage counts match the tokens streamed, with and without a stop sequence', async () => {
    const plain = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a3', prompt, maxTokens: 40 }));
    assert.equal(plain.streamedTokens, plain.done.usage.completionTokens);
    assert.equal(plain.done.usage.totalTokens, plain.done.usage.promptTokens + plain.done.usage.completionTokens);
    assert.ok(plain.done.usage.promptTokens > 1);
    assert.equal(plain.done.finishReason, 'length');
    // Stop on a piece of text the unconstrained run produced, so the stop is sure to match.
    const stop = plain.text.slice(10, 13);
    const cut = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a3', prompt, maxTokens: 40, stop: [stop] }));
    assert.equal(cut.done.finishReason, 'stop');
    assert.equal(cut.text, plain.text.slice(0, plain.text.indexOf(stop)));
    assert.equal(cut.streamedTokens + cut.done.stopTokens, cut.done.usage.completionTokens);
  });

  it('a cancelled generation frees its slot, and a deadline ends the stream', async () => {
    const ctrl = new AbortController();
    let seen = 0;
    let done;
    for await (const c of engine.generate({ baseModelId: 'tiny', adapterId: 'a4', prompt, maxTokens: 400, signal: ctrl.signal })) {
      if (c.type === 'done') done = c;
      else if (++seen === 3) ctrl.abort();
    }
    assert.equal(done?.finishReason, 'cancelled');
    assert.ok(done!.usage.completionTokens < 400);
    assert.equal(await engine.freeSlots('tiny', 'a4'), 2);
    // A consumer that walks away mid-stream frees the slot too.
    for await (const c of engine.generate({ baseModelId: 'tiny', adapterId: 'a4', prompt, maxTokens: 400 })) if (c.type === 'token') break;
    assert.equal(await engine.freeSlots('tiny', 'a4'), 2);
    const late = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a4', prompt, maxTokens: 400, deadline: Date.now() - 1 }));
    assert.equal(late.done.finishReason, 'deadline');
    assert.equal(late.done.usage.completionTokens, 0);
  });

  it('unloading an adapter frees it and a later load serves the same output', async () => {
    const before1 = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a5', prompt, maxTokens: 24 }));
    await engine.unloadAdapter('tiny', 'a5');
    assert.equal(engine.isAdapterLoaded('tiny', 'a5'), false);
    await assert.rejects(collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a5', prompt, maxTokens: 4 })), /not loaded/);
    await engine.loadAdapter({ id: 'a5', baseModelId: 'tiny', path: set.adapterPaths[4]! });
    const after1 = await collect(engine.generate({ baseModelId: 'tiny', adapterId: 'a5', prompt, maxTokens: 24 }));
    assert.equal(after1.text, before1.text);
  });
});
