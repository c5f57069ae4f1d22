import { createHash, randomBytes } from 'node:crypto';
import type { KeyHasher } from '../../application/inference.ports.js';

/** API keys are random 32-byte values; only their SHA-256 is stored (they carry full entropy, so no salt). */
export const sha256KeyHasher: KeyHasher = {
  hash: (apiKey) => createHash('sha256').update(apiKey, 'utf8').digest('hex'),
  newKey: () => `opal-${randomBytes(32).toString('base64url')}`,
};
