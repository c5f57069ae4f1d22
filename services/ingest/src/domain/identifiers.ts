import { createHash } from 'node:crypto';

/** bytes32 hex of SHA-256 of the content: the content address. */
export function contentHashOf(content: Uint8Array): string {
  return '0x' + createHash('sha256').update(content).digest('hex');
}

/** A contribution's id: one per (Datanet, contributor, nonce), so a replayed nonce maps to the same id. */
export function contributionIdOf(datanetId: string, contributor: string, nonce: bigint): string {
  return '0x' + createHash('sha256').update(`opal.contribution\u0000${datanetId}\u0000${contributor.toLowerCase()}\u0000${nonce}`).digest('hex');
}

/** A Datanet id derived from its owner and name when the caller gives none. */
export function datanetIdOf(owner: string, name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'datanet';
  return `${slug}-${createHash('sha256').update(`${owner.toLowerCase()}\u0000${name}`).digest('hex').slice(0, 8)}`;
}
