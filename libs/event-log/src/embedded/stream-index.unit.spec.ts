import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamIndex } from './stream-index.js';
import { HASH_BYTES } from '../stream-head-table.js';

const hashOf = (n: number) => new Uint8Array(HASH_BYTES).fill(n & 0xff);

describe('StreamIndex (the embedded log index)', () => {
  it('keeps each stream version, last hash and records in order, across growth and several maps of ids', () => {
    const index = new StreamIndex(100); // a new map of ids every 100 streams
    const expected = new Map<string, number[]>();
    // 1,000 streams, interleaved, 1 to 5 events each: past every initial capacity.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) {
        if (round > i % 5) continue;
        const id = `stream-${i}`;
        const s = index.streamOf(id) ?? index.addStream(id);
        const version = index.version(s) + 1;
        const record = index.push(s, record0(index) * 10, version, hashOf(record0(index)));
        expected.set(id, [...(expected.get(id) ?? []), record]);
      }
    }
    assert.equal(index.streams, 1000);
    assert.equal(index.records, [...expected.values()].reduce((n, r) => n + r.length, 0));
    for (const [id, records] of expected) {
      const s = index.streamOf(id)!;
      assert.equal(index.version(s), records.length);
      assert.deepEqual(index.recordsOf(s, 1, Infinity), records);
      assert.deepEqual(index.lastHash(s), hashOf(records.at(-1)!));
      for (const r of records) assert.equal(index.offsetOf(r), r * 10);
    }
    assert.equal(index.streamOf('stream-1000'), undefined);
  });

  it('reads from any sequence, with a limit', () => {
    const index = new StreamIndex();
    const s = index.addStream('s');
    const other = index.addStream('o');
    const mine: number[] = [];
    for (let v = 1; v <= 10; v++) {
      index.push(other, 0, v, hashOf(v));
      mine.push(index.push(s, 0, v, hashOf(v)));
    }
    assert.deepEqual(index.recordsOf(s, 4, 3), mine.slice(3, 6));
    assert.deepEqual(index.recordsOf(s, 0, 2), mine.slice(0, 2));
    assert.deepEqual(index.recordsOf(s, 10, 5), mine.slice(9));
    assert.deepEqual(index.recordsOf(s, 11, 5), []);
    assert.deepEqual(index.recordsOf(s, 1, 0), []);
  });

  it('refuses an event that does not follow the stream last one', () => {
    const index = new StreamIndex();
    const s = index.addStream('s');
    index.push(s, 0, 1, hashOf(1));
    assert.throws(() => index.push(s, 0, 3, hashOf(3)), /event 3 follows event 1/);
    assert.equal(index.version(s), 1);
  });
});

function record0(index: StreamIndex): number {
  return index.records;
}
