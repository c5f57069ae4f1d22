import { Wallet, getBytes, Signature } from 'ethers';
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
