import { AbiCoder, concat, getBytes, keccak256 } from 'ethers';

/**
 * A Merkle tree whose leaves, root and proofs match OpenZeppelin's StandardMerkleTree, so the
 * on-chain MerkleProof library verifies them: leaf = keccak256(keccak256(abi.encode(values))),
 * pairs hashed in sorted order, leaves sorted, tree laid out as a complete binary tree in an array.
 */
export class StandardMerkleTree {
  private constructor(
    private readonly tree: readonly string[],
    private readonly leafIndex: ReadonlyMap<string, number>,
    readonly leafEncoding: readonly string[],
  ) {}

  static leafHash(encoding: readonly string[], values: readonly unknown[]): string {
    return keccak256(keccak256(AbiCoder.defaultAbiCoder().encode(encoding, values)));
  }

  static of(values: readonly (readonly unknown[])[], encoding: readonly string[]): StandardMerkleTree {
    if (values.length === 0) throw new Error('values: a Merkle tree needs at least one leaf');
    const hashed = values.map((v) => StandardMerkleTree.leafHash(encoding, v));
    const sorted = [...hashed].sort(compareHex);
    const n = sorted.length;
    const tree: string[] = new Array(2 * n - 1);
    for (let i = 0; i < n; i++) tree[tree.length - 1 - i] = sorted[i]!;
    for (let i = tree.length - 1 - n; i >= 0; i--) tree[i] = hashPair(tree[2 * i + 1]!, tree[2 * i + 2]!);
    const leafIndex = new Map<string, number>();
    for (let i = 0; i < n; i++) leafIndex.set(sorted[i]!, tree.length - 1 - i);
    return new StandardMerkleTree(tree, leafIndex, encoding);
  }

  get root(): string {
    return this.tree[0]!;
  }

  /** Sibling hashes from the leaf of `values` up to the root. */
  getProof(values: readonly unknown[]): string[] {
    const leaf = StandardMerkleTree.leafHash(this.leafEncoding, values);
    let i = this.leafIndex.get(leaf);
    if (i === undefined) throw new Error('values: not a leaf of this tree');
    const proof: string[] = [];
    while (i > 0) {
      const sibling = i % 2 === 0 ? i - 1 : i + 1;
      proof.push(this.tree[sibling]!);
      i = Math.floor((i - 1) / 2);
    }
    return proof;
  }

  static verify(root: string, encoding: readonly string[], values: readonly unknown[], proof: readonly string[]): boolean {
    let h = StandardMerkleTree.leafHash(encoding, values);
    for (const p of proof) h = hashPair(h, p);
    return h === root;
  }
}

function compareHex(a: string, b: string): number {
  return Buffer.compare(Buffer.from(getBytes(a)), Buffer.from(getBytes(b)));
}

function hashPair(a: string, b: string): string {
  return compareHex(a, b) <= 0 ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}


