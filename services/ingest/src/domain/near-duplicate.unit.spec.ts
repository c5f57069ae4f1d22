import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NearDuplicateIndex, minhash, signatureFromBytes, signatureToBytes, similarityPpm } from './near-duplicate.js';

const words = (seed: number, count = 150) => Array.from({ length: count }, (_, i) => `w${(seed * 7919 + i * 104729) % 100_003}`).join(' ');

describe('MinHash near-duplicate detection', () => {
  it('estimates Jaccard similarity: identical, lightly edited, unrelated', () => {
    const a = words(1);
    const edited = a.split(' ').map((w, i) => (i % 50 === 7 ? 'edit' : w)).join(' ');
    assert.equal(similarityPpm(minhash(a), minhash(a.toUpperCase().replace(/ /g, '  '))), 1_000_000, 'case and spacing do not matter');
    assert.ok(similarityPpm(minhash(a), minhash(edited)) >= 800_000);
    assert.ok(similarityPpm(minhash(a), minhash(words(2))) < 100_000);
  });

  it('finds the earliest live near duplicate through the LSH buckets, and forgets removed ones', () => {
    const index = new NearDuplicateIndex();
    for (let i = 0; i < 200; i++) index.add(`c${i}`, minhash(words(i)));
    index.add('copy-of-7', minhash(words(7)));
    const probe = minhash(words(7).replace(/^w\d+/, 'changed'));
    assert.equal(index.findNear(probe, 800_000)?.id, 'c7');
    index.remove('c7');
    assert.equal(index.findNear(probe, 800_000)?.id, 'copy-of-7');
    assert.equal(index.findNear(minhash(words(999)), 800_000), undefined);
  });

  it('round-trips signatures through their event bytes', () => {
    const sig = minhash(words(3));
    assert.deepEqual(signatureFromBytes(signatureToBytes(sig)), sig);
    // As decoded from an event: a view into a larger buffer, at an offset that is not 4-aligned.
    const record = new Uint8Array(3 + sig.length * 4 + 5).fill(0xee);
    record.set(signatureToBytes(sig), 3);
    assert.deepEqual(signatureFromBytes(record.subarray(3, 3 + sig.length * 4)), sig);
    assert.equal(signatureFromBytes(new Uint8Array(7)), undefined);
  });
});
