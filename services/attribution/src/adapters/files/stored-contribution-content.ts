import { createHash } from 'node:crypto';
import type { ContentStore } from '@opal/content-store';
import type { ContributionContent } from '../../application/attribution.ports.js';

/**
 * Contribution bytes from the platform's content-addressed store (the pack ingest writes to when
 * embedded). The bytes are checked against their SHA-256, so a damaged store gives missing
 * content, never wrong content. Scaled out, the same port reads MongoDB.
 */
export class StoredContributionContent implements ContributionContent {
  constructor(private readonly store: ContentStore) {}

  async readMany(contentHashes: readonly string[]): Promise<Uint8Array[]> {
    const hexes = contentHashes.map((contentHash) => {
      const h = contentHash.replace(/^0x/, '');
      if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`content hash ${JSON.stringify(contentHash)} is not a SHA-256 hex digest`);
      return h;
    });
    const found = await this.store.getMany(hexes);
    return hexes.map((h, i) => {
      const bytes = found.get(h);
      if (!bytes) throw new Error(`content ${contentHashes[i]} is not in the content store`);
      if (createHash('sha256').update(bytes).digest('hex') !== h) throw new Error(`content ${contentHashes[i]} is corrupt (hash mismatch)`);
      return bytes;
    });
  }
}
