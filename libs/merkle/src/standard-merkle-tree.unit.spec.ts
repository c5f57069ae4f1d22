import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StandardMerkleTree as Reference } from '@openzeppelin/merkle-tree';
import { getAddress } from 'ethers';
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

describe('StandardMerkleTree over a Datanet manifest (bytes32, bytes32, address)', () => {
  const manifest = ['bytes32', 'bytes32', 'address'];
  // Lowercase, checksummed and uppercase addresses: the leaves are encoded word by word.
  const leaves = Array.from({ length: 29 }, (_, i) => {
    const address = `0x${(i * 104729 + 3).toString(16).padStart(40, 'a')}`;
    const spelled = i % 3 === 0 ? address : i % 3 === 1 ? getAddress(address) : `0x${address.slice(2).toUpperCase()}`;
    return [`0x${(i + 1).toString(16).padStart(64, '0')}`, `0x${(i * 31 + 7).toString(16).padStart(64, 'c')}`, spelled];
  });

  it('gives the same root and proofs as OpenZeppelin', () => {
    for (const n of [1, 2, 7, 29]) {
      const mine = StandardMerkleTree.of(leaves.slice(0, n), manifest);
      const ref = Reference.of(leaves.slice(0, n), manifest);
      assert.equal(mine.root, ref.root, `root with ${n} leaves`);
      for (const v of leaves.slice(0, n)) assert.deepEqual(mine.getProof(v), ref.getProof(v));
    }
  });

  it('verifies a proof written in upper case, and refuses a bad checksum or a short hash as the generic coder does', () => {
    const tree = StandardMerkleTree.of(leaves, manifest);
    const proof = tree.getProof(leaves[4]!).map((p) => `0x${p.slice(2).toUpperCase()}`);
    assert.ok(StandardMerkleTree.verify(tree.root, manifest, leaves[4]!, proof));
    assert.equal(StandardMerkleTree.verify(tree.root, manifest, leaves[4]!, proof.slice(1)), false);
    const checksummed = getAddress(`0x${'ab'.repeat(20)}`);
    const badChecksum = checksummed.slice(0, 2) + [...checksummed.slice(2)].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
    assert.throws(() => StandardMerkleTree.leafHash(manifest, [leaves[0]![0], leaves[0]![1], badChecksum]));
    assert.throws(() => StandardMerkleTree.leafHash(manifest, ['0x1234', leaves[0]![1], leaves[0]![2]]));
  });
});
