import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HASH_BYTES, StreamHeadTable } from './stream-head-table.js';

const hashOf = (n: number) => new Uint8Array(HASH_BYTES).map((_, i) => (n + i) & 0xff);

describe('StreamHeadTable', () => {
  it('keeps each stream version and hash by id, across growth and several maps of ids', () => {
    const table = new StreamHeadTable(300);
    for (let i = 0; i < 2000; i++) {
      const slot = table.add(`s-${i}`);
      assert.equal(slot, i);
      assert.equal(table.version(slot), 0);
      assert.ok(table.hashEquals(slot, new Uint8Array(HASH_BYTES)), 'a new stream has the all-zero hash');
      table.set(slot, i + 1, hashOf(i));
    }
    assert.equal(table.size, 2000);
    for (let i = 0; i < 2000; i++) {
      const slot = table.slotOf(`s-${i}`)!;
      assert.equal(table.version(slot), i + 1);
      assert.deepEqual(table.hash(slot), hashOf(i));
      assert.ok(table.hashEquals(slot, hashOf(i)));
      assert.ok(!table.hashEquals(slot, hashOf(i + 1)));
      assert.ok(!table.hashEquals(slot, hashOf(i).subarray(1)), 'a shorter hash is not equal');
    }
    assert.equal(table.slotOf('s-2000'), undefined);
  });

  it('copies the hash (from an offset) and hands out copies', () => {
    const table = new StreamHeadTable();
    const slot = table.add('s');
    const record = new Uint8Array(10 + HASH_BYTES);
    record.set(hashOf(7), 10);
    table.set(slot, 1, record, 10);
    record.fill(0);
    const out = table.hash(slot);
    out.fill(1);
    assert.deepEqual(table.hash(slot), hashOf(7));
    assert.throws(() => table.set(slot, 2, new Uint8Array(5)), /5 bytes, not 32/);
  });

  it('forgets every stream on clear', () => {
    const table = new StreamHeadTable(2);
    for (let i = 0; i < 5; i++) table.set(table.add(`s-${i}`), 3, hashOf(i));
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(table.slotOf('s-4'), undefined);
    const slot = table.add('s-4');
    assert.equal(table.version(slot), 0);
    assert.ok(table.hashEquals(slot, new Uint8Array(HASH_BYTES)));
  });
});
