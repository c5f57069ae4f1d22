import { createRequire } from 'node:module';
import { AbiCoder, TypedDataEncoder, getAddress, keccak256, toUtf8Bytes, getBytes, concat } from 'ethers';
import type { SignatureVerifier } from '../../application/ingest.ports.js';

type Secp256k1 = { ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array };
const secp256k1 = createRequire(import.meta.url)('secp256k1') as Secp256k1;

/** What contributors and validators sign: Opal's EIP-712 domain and types. */
export const opalDomain = (chainId: number) => ({ name: 'Opal', version: '1', chainId });
export const contributionTypes = {
  Contribution: [
    { name: 'datanetId', type: 'string' },
    { name: 'contentHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
  ],
};
export const reviewTypes = {
  Review: [
    { name: 'datanetId', type: 'string' },
    { name: 'contributionId', type: 'bytes32' },
    { name: 'approve', type: 'bool' },
  ],
};

const SECP256K1_N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * EIP-712 signer recovery. The digest is computed as ethers' TypedDataEncoder does (domain
 * separator and type hashes computed once), and the public key is recovered with libsecp256k1,
 * about ten times faster than recovering in JavaScript. Tests check it against ethers'
 * verifyTypedData. High-s signatures are refused, as Ethereum does since EIP-2.
 */
export class Eip712SignatureVerifier implements SignatureVerifier {
  private readonly prefix: Uint8Array;
  private readonly contributionTypeHash: string;
  private readonly reviewTypeHash: string;
  private readonly abi = AbiCoder.defaultAbiCoder();

  constructor(chainId: number) {
    this.prefix = getBytes(concat(['0x1901', TypedDataEncoder.hashDomain(opalDomain(chainId))]));
    this.contributionTypeHash = keccak256(toUtf8Bytes(TypedDataEncoder.from(contributionTypes).encodeType('Contribution')));
    this.reviewTypeHash = keccak256(toUtf8Bytes(TypedDataEncoder.from(reviewTypes).encodeType('Review')));
  }

  contributionSigner(datanetId: string, contentHash: string, nonce: bigint, signature: Uint8Array): string | undefined {
    const struct = keccak256(
      this.abi.encode(['bytes32', 'bytes32', 'bytes32', 'uint256'], [this.contributionTypeHash, keccak256(toUtf8Bytes(datanetId)), contentHash, nonce]),
    );
    return this.recover(struct, signature);
  }

  reviewSigner(datanetId: string, contributionId: string, approve: boolean, signature: Uint8Array): string | undefined {
    const struct = keccak256(
      this.abi.encode(['bytes32', 'bytes32', 'bytes32', 'bool'], [this.reviewTypeHash, keccak256(toUtf8Bytes(datanetId)), contributionId, approve]),
    );
    return this.recover(struct, signature);
  }

  private recover(structHash: string, signature: Uint8Array): string | undefined {
    if (signature.length !== 65) return undefined;
    const v = signature[64]!;
    const recid = v >= 27 ? v - 27 : v;
    if (recid !== 0 && recid !== 1) return undefined;
    const s = BigInt('0x' + Buffer.from(signature.subarray(32, 64)).toString('hex'));
    if (s === 0n || s > SECP256K1_N_HALF) return undefined;
    const digest = getBytes(keccak256(concat([this.prefix, structHash])));
    try {
      const pub = secp256k1.ecdsaRecover(signature.subarray(0, 64), recid, digest, false);
      return getAddress('0x' + keccak256(pub.subarray(1)).slice(-40));
    } catch {
      return undefined;
    }
  }
}
