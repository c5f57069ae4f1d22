import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndex, type IndexDocument } from '../build/build-index.js';
import { attribute } from '../attribute/attribute.js';
import { trace } from '../attribute/trace.js';
import { seededRandom } from '../eval/planted-corpus.js';
import { AttributionIndex } from './attribution-index.js';
import { CombinedIndex } from './combined-index.js';

const words = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}`);

function corpus(seed: number, n: number): IndexDocument[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => ({
    contributionId: `c${i}`,
    contributor: `0xa${i % 7}`,
    orderKey: i,
    text: Array.from({ length: 20 + Math.floor(rnd() * 60) }, () => words[Math.floor(rnd() * rnd() * words.length)]).join(' '),
  }));
}

describe('CombinedIndex', () => {
  it('given documents split over two indexes, when queried combined, then spans and weights equal one index over all of them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-combined-'));
    try {
      const docs = corpus(11, 120);
      await buildIndex(docs, { dir: join(dir, 'all'), workers: 0, shardTokens: 2000 });
      await buildIndex(docs.slice(0, 50), { dir: join(dir, 'a'), workers: 0, shardTokens: 1500 });
      await buildIndex(docs.slice(50), { dir: join(dir, 'b'), workers: 0 });
      const all = AttributionIndex.open(join(dir, 'all'));
      const a = AttributionIndex.open(join(dir, 'a'));
      const b = AttributionIndex.open(join(dir, 'b'));
      const combined = new CombinedIndex([a, b]);
      const output = `${docs[3]!.text} and then ${docs[90]!.text!.split(' ').slice(5, 30).join(' ')} ${docs[77]!.text}`;
      const params = { minSpanTokens: 3, maxSpanCount: 50 };
      const one = attribute(all, { output, params, retrievedContributionIds: ['c60'] });
      const two = attribute(combined, { output, params, retrievedContributionIds: ['c60'] });
      assert.deepEqual(two.spans, one.spans);
      assert.deepEqual(two.weights, one.weights);
      assert.equal(two.weights.reduce((s, w) => s + w.ppm, 0), 1_000_000);
      assert.notEqual(two.indexHash, one.indexHash);
      assert.deepEqual(two.shardHashes, [...a.shardHashes, ...b.shardHashes]);
      const traced = trace(combined, output, { params });
      assert.deepEqual(traced.map((s) => [s.start, s.end, s.count]), trace(all, output, { params }).map((s) => [s.start, s.end, s.count]));
      assert.ok(traced.some((s) => s.documents.some((d) => d.contributionId === 'c90' && d.snippet.includes('['))));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('given one index, when wrapped, then it answers with that index unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-combined-'));
    try {
      const docs = corpus(3, 30);
      await buildIndex(docs, { dir, workers: 0 });
      const index = AttributionIndex.open(dir);
      const output = docs[4]!.text!;
      assert.deepEqual(attribute(new CombinedIndex([index]), { output }), attribute(index, { output }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
