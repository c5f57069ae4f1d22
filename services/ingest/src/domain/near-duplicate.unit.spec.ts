import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKET_READ_LIMIT, MINHASH_SIZE, NearDuplicateIndex, minhash, signatureToBytes, similarityPpm } from './near-duplicate.js';

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

  it('reads a bounded part of the buckets a shared template fills, and still finds an edit of an early text', () => {
    // Every text: the same 100 words, then 50 of its own (about half alike, none near another).
    const template = words(5_000, 100);
    const own = (i: number) => {
      let x = (i + 1) * 0x9e3779b1;
      return Array.from({ length: 50 }, () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), `u${(x >>> 0) % 1_000_000}`)).join(' ');
    };
    const templated = (i: number) => `${template} ${own(i)}`;
    const index = new NearDuplicateIndex();
    const n = 10_000;
    for (let i = 0; i < n; i++) index.add(`t${i}`, minhash(templated(i)));
    const probe = minhash(templated(n));
    const candidates = index.candidates(probe).size;
    // Unbounded, 7,208 of the 10,000 were: a band whose four rows the template alone decides (a
    // fifth of each text's bands) has one key for every text whose band that is.
    assert.ok(candidates < n / 10 && candidates <= 32 * BUCKET_READ_LIMIT, `${candidates} candidates among ${n} texts`);
    assert.equal(index.findNear(probe, 800_000), undefined);
    // An edit of the first text meets it where they share what the others do not.
    const edited = templated(0).split(' ').map((w, i) => (i === 120 ? 'edit' : w)).join(' ');
    assert.equal(index.findNear(minhash(edited), 800_000)?.id, 't0');
  });

  it('holds signatures past its first blocks, given as words or as event bytes, and finds each', () => {
    let x = 0x2545f491;
    const random = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
    const index = new NearDuplicateIndex();
    const sigs: Uint32Array[] = [];
    for (let i = 0; i < 70_000; i++) {
      const sig = Uint32Array.from({ length: MINHASH_SIZE }, random);
      sigs.push(sig);
      if (i % 2 === 0) index.add(`c${i}`, sig);
      else {
        // As an event carries it: a view at an offset that is not 4-aligned.
        const record = new Uint8Array(1 + MINHASH_SIZE * 4);
        record.set(signatureToBytes(sig), 1);
        assert.ok(index.addBytes(`c${i}`, record.subarray(1)));
      }
    }
    for (const i of [0, 1, 63, 64, 65, 4095, 65_535, 65_536, 65_537, 69_999]) assert.deepEqual(index.findNear(sigs[i]!, 1_000_000), { id: `c${i}`, similarityPpm: 1_000_000 }, `c${i}`);
    assert.equal(index.addBytes('short', new Uint8Array(MINHASH_SIZE * 4 - 1)), false);
    assert.equal(index.findNear(Uint32Array.from({ length: MINHASH_SIZE }, random), 500_000), undefined);
  });

  it('round-trips signatures through their event bytes', () => {
    const sig = minhash(words(3));
    const exact = (index: NearDuplicateIndex, id: string) => assert.deepEqual(index.findNear(sig, 1_000_000), { id, similarityPpm: 1_000_000 });
    const whole = new NearDuplicateIndex();
    assert.ok(whole.addBytes('c', signatureToBytes(sig)));
    exact(whole, 'c');
    // As decoded from an event: a view into a larger buffer, at an offset that is not 4-aligned.
    const record = new Uint8Array(3 + sig.length * 4 + 5).fill(0xee);
    record.set(signatureToBytes(sig), 3);
    const viewed = new NearDuplicateIndex();
    assert.ok(viewed.addBytes('v', record.subarray(3, 3 + sig.length * 4)));
    exact(viewed, 'v');
    assert.equal(new NearDuplicateIndex().addBytes('x', new Uint8Array(7)), false);
  });
});
