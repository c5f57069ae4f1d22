export { StandardMerkleTree } from './standard-merkle-tree.js';
