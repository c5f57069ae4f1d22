import { Wallet, getBytes, Signature, TypedDataEncoder } from 'ethers';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { contributionTypes, opalDomain, reviewTypes } from '@opal/ingest';

export const CHAIN_ID = 31337;

/** Deterministic test wallets. */
export function wallet(i: number): Wallet {
  return new Wallet('0x' + createHash('sha256').update(`opal-test-wallet-${i}`).digest('hex'));
}

export function contentHash(content: Uint8Array): string {
  return '0x' + createHash('sha256').update(content).digest('hex');
}

export async function signContribution(w: Wallet, datanetId: string, content: Uint8Array, nonce: bigint): Promise<Buffer> {
  const sig = await w.signTypedData(opalDomain(CHAIN_ID), contributionTypes, { datanetId, contentHash: contentHash(content), nonce });
  return Buffer.from(getBytes(Signature.from(sig).serialized));
}

export async function signReview(w: Wallet, datanetId: string, contributionId: string, approve: boolean): Promise<Buffer> {
  const sig = await w.signTypedData(opalDomain(CHAIN_ID), reviewTypes, { datanetId, contributionId, approve });
  return Buffer.from(getBytes(sig));
}

type Secp = { ecdsaSign(msg32: Uint8Array, key: Uint8Array): { signature: Uint8Array; recid: number } };
const secp = createRequire(import.meta.url)('secp256k1') as Secp;

/** The same signature as signContribution, made with libsecp256k1: for generating load quickly. */
export function signContributionFast(w: Wallet, datanetId: string, content: Uint8Array, nonce: bigint): Buffer {
  const digest = getBytes(TypedDataEncoder.hash(opalDomain(CHAIN_ID), contributionTypes, { datanetId, contentHash: contentHash(content), nonce }));
  const { signature, recid } = secp.ecdsaSign(digest, getBytes(w.privateKey));
  return Buffer.concat([Buffer.from(signature), Buffer.from([27 + recid])]);
}
