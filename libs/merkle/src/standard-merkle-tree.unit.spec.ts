import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StandardMerkleTree as Reference } from '@openzeppelin/merkle-tree';
import { StandardMerkleTree } from './standard-merkle-tree.js';

const encoding = ['address', 'uint256'];
const values = Array.from({ length: 37 }, (_, i) => [
  `0x${(i * 7919 + 1).toString(16).padStart(40, '0')}`,
  (BigInt(i) * 10n ** 18n + 5n).toString(),
]);

describe('StandardMerkleTree', () => {
  it('gives the same root and proofs as OpenZeppelin for every tree size', () => {
    for (const n of [1, 2, 3, 4, 5, 8, 13, 37]) {
      const mine = StandardMerkleTree.of(values.slice(0, n), encoding);
      const ref = Reference.of(values.slice(0, n), encoding);
      assert.equal(mine.root, ref.root, `root with ${n} leaves`);
      for (const v of values.slice(0, n)) {
        assert.deepEqual(mine.getProof(v), ref.getProof(v));
        assert.ok(StandardMerkleTree.verify(mine.root, encoding, v, mine.getProof(v)));
      }
    }
  });

  it('rejects a proof for a value that is not a leaf', () => {
    const tree = StandardMerkleTree.of(values.slice(0, 5), encoding);
    const proof = tree.getProof(values[0]!);
    assert.equal(StandardMerkleTree.verify(tree.root, encoding, values[6]!, proof), false);
    assert.throws(() => tree.getProof(values[6]!), /not a leaf/);
  });
});
