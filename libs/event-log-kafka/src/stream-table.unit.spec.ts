import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StreamTable } from './stream-table.js';

describe('StreamTable', () => {
  it('finds each of 200,000 streams of similar ids, and none it was not given, across growth', () => {
    const ids: string[] = [];
    const table = new StreamTable((v) => ids[v]!, 16);
    for (let i = 0; i < 200_000; i++) {
      ids.push(`inference-${i.toString(36).padStart(8, '0')}`);
      table.add(ids[i]!, i);
    }
    assert.equal(table.size, 200_000);
    for (let i = 0; i < 200_000; i += 7) assert.equal(table.get(ids[i]!), i);
    for (let i = 0; i < 1000; i++) assert.equal(table.get(`inference-x${i}`), undefined);
    assert.equal(table.get(''), undefined);
  });

  it('takes a stream only when its records confirm the id, whatever the hash says', () => {
    // Value 0's records name tenant-b: the hash of tenant-a leads there, its records do not agree.
    const ids = ['tenant-b'];
    const table = new StreamTable((v) => ids[v]!);
    table.add('tenant-a', 0);
    // Enough other streams that tenant-a is no longer among those met lately.
    for (let i = 1; i <= 5000; i++) table.add((ids[i] = `other-${i}`), i);
    assert.equal(table.get('tenant-a'), undefined);
    assert.equal(table.get('other-1'), 1, 'confirmed against its records');
  });
});
