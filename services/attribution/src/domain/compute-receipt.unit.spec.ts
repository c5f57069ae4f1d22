import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttributionIndex, DEFAULT_ATTRIBUTION_PARAMS, buildIndex } from '@opal/attribution-index';
import { computeReceipt, type OpenedIndex } from './compute-receipt.js';
import { weightSum } from './receipt.decider.js';

const passage = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `w${(seed * 7919 + i * 104729) % 5003}`).join(' ');

describe('computeReceipt', () => {
  let dir: string;
  let a: OpenedIndex;
  let b: OpenedIndex;
  const params = { ...DEFAULT_ATTRIBUTION_PARAMS, minSpanTokens: 4 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-receipt-'));
    const doc = (id: string, contributor: string, orderKey: number, text: string) => ({ contributionId: id, contributor, orderKey, text });
    await buildIndex([doc('a1', '0xa1', 0, passage(1, 40)), doc('a2', '0xa2', 1, passage(2, 40))], { dir: join(dir, 'a'), workers: 0 });
    await buildIndex([doc('b1', '0xb1', 0, passage(3, 40))], { dir: join(dir, 'b'), workers: 0 });
    const open = (name: string, datanetId: string): OpenedIndex => {
      const index = AttributionIndex.open(join(dir, name));
      return { ref: { datanetId, version: 1 }, indexHash: index.indexHash, index };
    };
    a = open('a', 'net-a');
    b = open('b', 'net-b');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('given an output quoting contributions of two Datanets, when computed, then both are credited, weights sum to 1,000,000 and the receipt names both indexes', () => {
    const output = `intro words ${passage(1, 12)} and ${passage(3, 10)}.`;
    const r = computeReceipt({ inferenceId: 'i1', outputText: output, retrievedContributions: [] }, [a, b], params);
    assert.equal(weightSum(r), 1_000_000);
    assert.deepEqual(r.weights.map((w) => w.contributor), ['0xa1', '0xb1']);
    assert.deepEqual(r.datanetVersions, ['net-a@1', 'net-b@1']);
    assert.deepEqual(r.indexHashes, [a.indexHash, b.indexHash]);
    assert.notEqual(r.combinedIndexHash, a.indexHash);
    assert.equal(r.spans.length, 2);
    assert.equal(output.slice(r.spans[0]!.outputStart, r.spans[0]!.outputStart + r.spans[0]!.length), passage(1, 12));
    assert.deepEqual(r, computeReceipt({ inferenceId: 'i1', outputText: output, retrievedContributions: [] }, [a, b], params), 'deterministic');
  });

  it('given retrieved contributions, when computed, then indexed ones share the retrieval share and unknown ones are not credited', () => {
    const output = passage(1, 12);
    const uncapped = { ...params, maxContributorSharePpm: 1_000_000 };
    const r = computeReceipt({ inferenceId: 'i2', outputText: output, retrievedContributions: ['a2', 'not-indexed'] }, [a], uncapped);
    assert.deepEqual(r.retrievedContributions, ['a2']);
    assert.deepEqual(r.weights, [{ contributor: '0xa1', weightPpm: 1_000_000 - params.retrievalSharePpm }, { contributor: '0xa2', weightPpm: params.retrievalSharePpm }]);
    const capped = computeReceipt({ inferenceId: 'i2', outputText: output, retrievedContributions: ['a2'] }, [a], params);
    assert.deepEqual(capped.weights.map((w) => w.weightPpm), [500_000, 500_000], 'the per-contributor cap holds');
  });

  it('given no index, when computed, then the receipt credits nobody but still names the output', () => {
    const r = computeReceipt({ inferenceId: 'i3', outputText: 'hello world', retrievedContributions: ['x'] }, [], params);
    assert.deepEqual([r.weights, r.spans, r.indexHashes, r.outputTokens], [[], [], [], 2]);
    assert.equal(r.outputHash.length, 64);
  });
});
