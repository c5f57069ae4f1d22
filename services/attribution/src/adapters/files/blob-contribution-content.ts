import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContributionContent } from '../../application/attribution.ports.js';

/**
 * Reads contribution bytes straight from ingest's content-addressed files (`<blobs>/ab/cd/<hash>`).
 * Chosen over ingest's GetContent RPC: no dependency on ingest being up or on its address, no
 * 64 MiB message limit, and the bytes are checked against their SHA-256 name, so reading another
 * service's files cannot give wrong content, only missing content. Scaled out, the same port gets
 * a GridFS or GetContent adapter.
 */
export class BlobContributionContent implements ContributionContent {
  constructor(private readonly dir: string) {}

  async read(contentHash: string): Promise<Uint8Array> {
    const h = contentHash.replace(/^0x/, '');
    if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`content hash ${JSON.stringify(contentHash)} is not a SHA-256 hex digest`);
    const bytes = await readFile(join(this.dir, h.slice(0, 2), h.slice(2, 4), h));
    if (createHash('sha256').update(bytes).digest('hex') !== h) throw new Error(`content ${contentHash} is corrupt (hash mismatch)`);
    return bytes;
  }
}
