import { AbiCoder, getAddress, getBytes, hexlify } from 'ethers';
import { keccak256, keccak256Hex } from './keccak.js';

/**
 * A Merkle tree whose leaves, root and proofs match OpenZeppelin's StandardMerkleTree, so the
 * on-chain MerkleProof library verifies them: leaf = keccak256(keccak256(abi.encode(values))),
 * pairs hashed in sorted order, leaves sorted, tree laid out as a complete binary tree in an array.
 * Every hash in the tree is lowercase `0x` hex of 32 bytes, so comparing the strings compares the
 * bytes.
 */
export class StandardMerkleTree {
  private constructor(
    private readonly tree: readonly string[],
    private readonly leafIndex: ReadonlyMap<string, number>,
    readonly leafEncoding: readonly string[],
  ) {}

  static leafHash(encoding: readonly string[], values: readonly unknown[]): string {
    return keccak256Hex(keccak256(encodeWords(encoding, values) ?? getBytes(AbiCoder.defaultAbiCoder().encode(encoding, values))));
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
    for (const p of proof) {
      // A proof comes from outside: any hex spelling of 32 bytes, compared as bytes.
      const sibling = hash32(p);
      if (sibling === undefined) return false;
      h = hashPair(h, sibling);
    }
    return h === hash32(root);
  }
}

const LOWER_ADDRESS = /^0x[0-9a-f]{40}$/;
const HEX32 = /^0x[0-9a-fA-F]{64}$/;

/**
 * abi.encode of leaves made only of `bytes32` and `address` values (a Datanet manifest's), written
 * word by word: ethers' generic coder costs about 200 µs a leaf. Undefined for any other type or any
 * value these rules do not take as is, which then goes to the generic coder and its errors.
 */
function encodeWords(encoding: readonly string[], values: readonly unknown[]): Uint8Array | undefined {
  if (values.length !== encoding.length) return undefined;
  const out = Buffer.alloc(32 * encoding.length);
  try {
    for (let i = 0; i < encoding.length; i++) {
      const v = values[i];
      if (typeof v !== 'string') return undefined;
      if (encoding[i] === 'bytes32') {
        if (!HEX32.test(v)) return undefined;
        out.write(v.slice(2), 32 * i, 'hex');
      } else if (encoding[i] === 'address') {
        // Mixed case must carry a valid checksum, as for the generic coder.
        out.write((LOWER_ADDRESS.test(v) ? v : getAddress(v)).slice(2), 32 * i + 12, 'hex');
      } else {
        return undefined;
      }
    }
  } catch {
    return undefined;
  }
  return out;
}

/** Lowercase `0x` hex of 32 bytes, or undefined for anything else. */
function hash32(hex: string): string | undefined {
  try {
    const h = hexlify(getBytes(hex));
    return h.length === 66 ? h : undefined;
  } catch {
    return undefined;
  }
}

function compareHex(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** keccak256 of the two hashes' bytes, the smaller first (both lowercase `0x` hex of 32 bytes). */
function hashPair(a: string, b: string): string {
  const [first, second] = a <= b ? [a, b] : [b, a];
  const pair = Buffer.allocUnsafe(64);
  pair.write(first.slice(2), 0, 'hex');
  pair.write(second.slice(2), 32, 'hex');
  return keccak256Hex(pair);
}
