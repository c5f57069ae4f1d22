import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BandBuckets } from './band-buckets.js';

const slotsOf = (b: BandBuckets, band: number, key: number) => {
  const out: number[] = [];
  for (let e = b.first(band, key); e >= 0; e = b.next(e)) out.push(b.slotOf(e));
  return out;
};

describe('LSH band buckets', () => {
  it('lists the slots of a band and key latest first, keeping bands with the same key apart', () => {
    const b = new BandBuckets(4);
    b.add(0, 0, 7);
    b.add(0, 1, 7);
    b.add(1, 0, 7);
    b.add(2, 0, 9);
    b.add(3, 0, 7);
    b.add(3, 3, 0xffffffff);
    assert.deepEqual(slotsOf(b, 0, 7), [3, 1, 0]);
    assert.deepEqual(slotsOf(b, 1, 7), [0]);
    assert.deepEqual(slotsOf(b, 2, 7), []);
    assert.deepEqual(slotsOf(b, 0, 9), [2]);
    assert.deepEqual(slotsOf(b, 3, 0xffffffff), [3]);
  });

  it('holds more keys than a Map can (2^24), each found again', () => {
    const b = new BandBuckets(1);
    const n = 2 ** 24 + 100_000;
    const key = (i: number) => Math.imul(i, 0x9e3779b1) >>> 0; // distinct for distinct i (odd multiplier)
    for (let i = 0; i < n; i++) b.add(i, 0, key(i));
    for (const i of [0, 1, 65_535, 2 ** 24 - 1, 2 ** 24, n - 1]) assert.deepEqual(slotsOf(b, 0, key(i)), [i], `slot ${i}`);
    assert.deepEqual(slotsOf(b, 0, key(n)), []);
  });
});
