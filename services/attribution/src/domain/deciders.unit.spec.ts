import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AttributionComputedData, AttributionIndexBuiltData } from './attribution.events.js';
import { decideIndexBuilt, evolveIndex, initialIndexState } from './index.decider.js';
import { decideReceipt, evolveReceipt, initialReceiptState, receiptDifferences, weightSum } from './receipt.decider.js';

const built = (indexHash: string): AttributionIndexBuiltData => ({ datanetId: 'd', version: 1, indexHash, tokens: 10n, shards: 1, tokenizer: 't', documents: 2 });

const receipt = (over: Partial<AttributionComputedData> = {}): AttributionComputedData => ({
  inferenceId: 'inf-1',
  indexHashes: ['h1'],
  methodVersion: 'opal-spans/1',
  spans: [{ outputStart: 0, length: 30, count: 1n, contributions: ['c1'], tokens: 6, weight: 60n }],
  weights: [{ contributor: '0xa', weightPpm: 600_000 }, { contributor: '0xb', weightPpm: 400_000 }],
  outputHash: 'ff',
  datanetVersions: ['d@1'],
  retrievedContributions: [],
  params: { minSpanTokens: 4, maxSpanCount: 1000, copyMinTokens: 8, maxContributorSharePpm: 500_000, retrievalSharePpm: 300_000 },
  outputTokens: 6,
  combinedIndexHash: 'h1',
  ...over,
});

describe('index decider', () => {
  it('given no index yet, when a build finishes, then AttributionIndexBuilt is decided', () => {
    const d = decideIndexBuilt(initialIndexState, built('h1'));
    assert.equal(d.outcome, 'built');
    assert.deepEqual(d.events, [{ type: 'AttributionIndexBuilt', data: built('h1') }]);
  });

  it('given an index already built, when the version is delivered again, then nothing is decided and a different hash is reported', () => {
    const state = evolveIndex(initialIndexState, { type: 'AttributionIndexBuilt', data: built('h1') });
    assert.deepEqual(decideIndexBuilt(state, built('h1')), { events: [], outcome: 'already-built' });
    assert.deepEqual(decideIndexBuilt(state, built('h2')), { events: [], outcome: 'hash-differs' });
    assert.deepEqual(evolveIndex(state, { type: 'AttributionIndexBuilt', data: built('h2') }), { built: true, indexHash: 'h1' });
  });
});

describe('receipt decider', () => {
  it('given no receipt, when computed, then one AttributionComputed; given one, when redelivered, then nothing', () => {
    assert.deepEqual(decideReceipt(initialReceiptState, receipt()), [{ type: 'AttributionComputed', data: receipt() }]);
    const state = evolveReceipt(initialReceiptState, { type: 'AttributionComputed', data: receipt() });
    assert.deepEqual(decideReceipt(state, receipt({ outputHash: 'other' })), []);
  });

  it('given two receipts, when compared, then the differing fields are named, bigints included', () => {
    assert.deepEqual(receiptDifferences(receipt(), receipt()), []);
    const tampered = receipt({ weights: [{ contributor: '0xa', weightPpm: 700_000 }, { contributor: '0xb', weightPpm: 300_000 }] });
    assert.deepEqual(receiptDifferences(tampered, receipt()), ['weights']);
    const spans = receipt().spans.map((s) => ({ ...s, count: 2n }));
    assert.deepEqual(receiptDifferences(receipt({ spans, outputHash: 'ee' }), receipt()), ['outputHash', 'spans']);
    assert.equal(weightSum(receipt()), 1_000_000);
  });
});
