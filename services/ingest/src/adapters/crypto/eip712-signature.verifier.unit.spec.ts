import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Signature, Wallet, getBytes, verifyTypedData } from 'ethers';
import { Eip712SignatureVerifier, contributionTypes, opalDomain, reviewTypes } from './eip712-signature.verifier.js';

const chainId = 31337;
const verifier = new Eip712SignatureVerifier(chainId);
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe('Eip712SignatureVerifier', () => {
  it('recovers the same signer as ethers.verifyTypedData for contributions and reviews', async () => {
    for (let i = 0; i < 25; i++) {
      const w = Wallet.createRandom();
      const value = { datanetId: `net-${i}-ü`, contentHash: '0x' + randomBytes(32).toString('hex'), nonce: BigInt(i) * 2n ** 60n + 7n };
      const sig = await w.signTypedData(opalDomain(chainId), contributionTypes, value);
      const expected = verifyTypedData(opalDomain(chainId), contributionTypes, value, sig).toLowerCase();
      assert.equal(verifier.contributionSigner(value.datanetId, value.contentHash, value.nonce, getBytes(sig)), expected);
      assert.equal(expected, w.address.toLowerCase());
      const review = { datanetId: value.datanetId, contributionId: '0x' + randomBytes(32).toString('hex'), approve: i % 2 === 0 };
      const rsig = await w.signTypedData(opalDomain(chainId), reviewTypes, review);
      assert.equal(verifier.reviewSigner(review.datanetId, review.contributionId, review.approve, getBytes(rsig)), w.address.toLowerCase());
      assert.notEqual(verifier.reviewSigner(review.datanetId, review.contributionId, !review.approve, getBytes(rsig)), w.address.toLowerCase());
    }
  });

  it('accepts v as 0/1 or 27/28, refuses high-s, bad v and wrong lengths', async () => {
    const w = Wallet.createRandom();
    const value = { datanetId: 'net', contentHash: '0x' + 'ab'.repeat(32), nonce: 1n };
    const sig = Signature.from(await w.signTypedData(opalDomain(chainId), contributionTypes, value));
    const bytes = getBytes(sig.serialized);
    const me = w.address.toLowerCase();
    assert.equal(verifier.contributionSigner('net', value.contentHash, 1n, bytes), me);
    const v01 = Uint8Array.from(bytes);
    v01[64] = sig.v - 27;
    assert.equal(verifier.contributionSigner('net', value.contentHash, 1n, v01), me);
    // The malleable twin (n - s, flipped v) is valid math but refused, as on Ethereum.
    const high = Uint8Array.from(bytes);
    high.set(getBytes('0x' + (N - BigInt(sig.s)).toString(16).padStart(64, '0')), 32);
    high[64] = sig.v === 27 ? 28 : 27;
    assert.equal(verifier.contributionSigner('net', value.contentHash, 1n, high), undefined);
    const badV = Uint8Array.from(bytes);
    badV[64] = 29;
    assert.equal(verifier.contributionSigner('net', value.contentHash, 1n, badV), undefined);
    assert.equal(verifier.contributionSigner('net', value.contentHash, 1n, bytes.subarray(0, 64)), undefined);
    assert.equal(verifier.contributionSigner('net', '0x1234', 1n, bytes), undefined);
    assert.notEqual(verifier.contributionSigner('net', value.contentHash, 2n, bytes), me);
  });
});
