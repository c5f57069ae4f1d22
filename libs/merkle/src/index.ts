export { StandardMerkleTree } from './standard-merkle-tree.js';
export { keccak256, keccak256Hex } from './keccak.js';
