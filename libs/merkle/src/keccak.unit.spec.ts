import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keccak256 as ethersKeccak } from 'ethers';
import { keccak256, keccak256Hex } from './keccak.js';

describe('keccak256', () => {
  it('equals the reference (ethers) for every length from empty past two blocks, in bytes and in hex', () => {
    for (let n = 0; n <= 300; n++) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n * 7) & 0xff);
      const reference = ethersKeccak(data);
      assert.equal(keccak256Hex(data), reference, `length ${n}`);
      assert.equal(`0x${Buffer.from(keccak256(data)).toString('hex')}`, reference, `length ${n}`);
    }
  });

  it('is Keccak-256 as Ethereum uses it, not SHA3-256', () => {
    assert.equal(keccak256Hex(new Uint8Array(0)), '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  });
});
