import type { Inspection, InspectionRequest } from '../../application/ingest.ports.js';
import { contentHashOf } from '../../domain/identifiers.js';
import { minhash } from '../../domain/near-duplicate.js';
import type { Eip712SignatureVerifier } from '../crypto/eip712-signature.verifier.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The inspection itself, the same on a worker thread or in the calling thread. */
export function inspectContent(verifier: Eip712SignatureVerifier, r: InspectionRequest): Inspection {
  const contentHash = contentHashOf(r.content);
  const signer = verifier.contributionSigner(r.datanetId, contentHash, r.nonce, r.signature);
  if (r.content.length > r.maxBytes) return { contentHash, signer, utf8: undefined, text: undefined, minhash: undefined };
  let text: string;
  try {
    text = utf8.decode(r.content);
  } catch {
    return { contentHash, signer, utf8: false, text: undefined, minhash: undefined };
  }
  return { contentHash, signer, utf8: true, text: r.wantText ? text : undefined, minhash: minhash(text) };
}
