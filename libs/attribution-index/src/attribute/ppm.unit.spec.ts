import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toPartsPerMillion } from './ppm.js';
import { maximalSpans, spanWeight } from './spans.js';
import { resolveParams } from './params.js';

const sum = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);

describe('toPartsPerMillion', () => {
  it('given thirds, when rounded, then largest remainder sums to 1,000,000 and ties go to the smaller key', () => {
    const r = toPartsPerMillion(new Map([['b', 1n], ['a', 1n], ['c', 1n]]), 1_000_000);
    assert.deepEqual([...r.entries()].sort(), [['a', 333_334], ['b', 333_333], ['c', 333_333]]);
  });

  it('given a dominant contributor, when capped, then the excess goes to the others in proportion', () => {
    const r = toPartsPerMillion(new Map([['a', 90n], ['b', 6n], ['c', 4n]]), 500_000);
    assert.equal(r.get('a'), 500_000);
    assert.equal(r.get('b'), 300_000);
    assert.equal(r.get('c'), 200_000);
  });

  it('given a single contributor, when capped, then the cap is relaxed so the million is still paid', () => {
    assert.deepEqual([...toPartsPerMillion(new Map([['a', 5n]]), 300_000)], [['a', 1_000_000]]);
  });

  it('given no credit, when rounded, then nothing is paid', () => {
    assert.equal(toPartsPerMillion(new Map([['a', 0n]]), 500_000).size, 0);
  });

  it('given random credits, when rounded, then parts always sum exactly and respect the cap', () => {
    let x = 1;
    for (let t = 0; t < 200; t++) {
      const m = new Map<string, bigint>();
      const n = 1 + (t % 17);
      for (let i = 0; i < n; i++) m.set(`k${i}`, BigInt(((x = (x * 48271) % 2147483647) % 1000) + 1));
      const r = toPartsPerMillion(m, 200_000);
      assert.equal(sum(r), 1_000_000);
      const cap = Math.max(200_000, Math.ceil(1_000_000 / n));
      for (const v of r.values()) assert.ok(v <= cap);
    }
  });
});

describe('span filters and weights', () => {
  it('given a match table, when spans are derived, then only maximal spans remain with length and count verdicts', () => {
    const params = resolveParams({ minSpanTokens: 3, maxSpanCount: 5 });
    // 0 matches 4 tokens, 1 lies inside it, 2 extends to 7, 5 is too common, 8 too short.
    const length = Uint32Array.from([4, 3, 5, 0, 0, 4, 0, 0, 2, 0]);
    const count = Float64Array.from([1, 1, 2, 0, 0, 9, 0, 0, 1, 0]);
    const spans = maximalSpans({ length, count, lo: new Uint32Array(0), hi: new Uint32Array(0) }, params);
    assert.deepEqual(spans.map((s) => [s.token, s.tokens, s.verdict]), [[0, 4, 'kept'], [2, 5, 'kept'], [5, 4, 'too-common'], [8, 2, 'too-short']]);
  });

  it('given rarer spans, when weighted, then they earn more per token', () => {
    assert.ok(spanWeight(6, 1, 1_000_000) > spanWeight(6, 100, 1_000_000));
    assert.equal(spanWeight(6, 1, 1024), 6 * 11);
  });
});
