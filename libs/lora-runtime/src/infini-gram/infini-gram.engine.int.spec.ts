import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttributionIndex, attribute, buildIndex } from '@opal/attribution-index';
import { collect } from '../testing/collect.js';
import { InfiniGramEngine } from './infini-gram.engine.js';

const docs = [
  'the quick brown fox jumps over the lazy dog near the quiet river bank',
  'a slow green turtle swims across the quiet river under the old stone bridge',
  'the old stone bridge was built by farmers who carried every stone by hand',
];

describe('InfiniGramEngine', () => {
  let dir: string;
  let index: AttributionIndex;
  let engine: InfiniGramEngine;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-infini-'));
    await buildIndex(docs.map((text, i) => ({ contributionId: `c${i}`, contributor: `0x${String(i).padStart(40, '0')}`, orderKey: i, text })), { dir, workers: 0 });
    index = AttributionIndex.open(dir);
    engine = new InfiniGramEngine({ openIndex: async () => index });
    await engine.loadBaseModel({ id: 'ig' });
    await engine.loadAdapter({ id: 'v1', baseModelId: 'ig', path: 'd@1' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('continues the longest matching context with words from the corpus, reproducibly by seed', async () => {
    const a = await collect(engine.generate({ baseModelId: 'ig', adapterId: 'v1', prompt: 'under the old stone', maxTokens: 6, seed: 3 }));
    const b = await collect(engine.generate({ baseModelId: 'ig', adapterId: 'v1', prompt: 'under the old stone', maxTokens: 6, seed: 3 }));
    assert.equal(a.text, b.text);
    assert.ok(a.text.startsWith('bridge'), a.text);
    assert.equal(a.done.usage.promptTokens, 4);
    assert.equal(a.streamedTokens + a.done.stopTokens, a.done.usage.completionTokens);
    // Attribution finds the sources of what it wrote.
    const receipt = attribute(index, { output: `under the old stone ${a.text}` });
    assert.ok(receipt.spans.length > 0);
  });

  it('stops at the end of a passage, on a stop sequence, at max tokens and on cancel', async () => {
    const end = await collect(engine.generate({ baseModelId: 'ig', adapterId: 'v1', prompt: 'carried every stone by', maxTokens: 50 }));
    assert.equal(end.text, 'hand');
    assert.equal(end.done.finishReason, 'stop');
    const stop = await collect(engine.generate({ baseModelId: 'ig', adapterId: 'v1', prompt: 'the quick brown', maxTokens: 50, stop: [' over'] }));
    assert.equal(stop.text, 'fox jumps');
    const len = await collect(engine.generate({ baseModelId: 'ig', adapterId: 'v1', prompt: 'the quick brown', maxTokens: 2 }));
    assert.equal(len.done.finishReason, 'length');
    const ac = new AbortController();
    ac.abort();
    const cancelled = await collect(engine.generate({ baseModelId: 'ig', adapterId: 'v1', prompt: 'the', maxTokens: 5, signal: ac.signal }));
    assert.equal(cancelled.done.finishReason, 'cancelled');
  });
});
