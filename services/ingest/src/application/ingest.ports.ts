/** Recovers the signer (lowercase hex address) of Opal's EIP-712 messages; undefined when the signature is malformed. */
export interface SignatureVerifier {
  contributionSigner(datanetId: string, contentHash: string, nonce: bigint, signature: Uint8Array): string | undefined;
  reviewSigner(datanetId: string, contributionId: string, approve: boolean, signature: Uint8Array): string | undefined;
}
export const SIGNATURE_VERIFIER = Symbol('SignatureVerifier');

export { CONTENT_STORE, type ContentStore } from '@opal/content-store';

export type CompiledSchema = { validate(value: unknown): string | undefined };

/** JSON Schema validation for JSON-lines Datanets. */
export interface SchemaValidator {
  /** Compiles a schema; throws with a readable message when the schema itself is invalid. */
  compile(schemaJson: string): CompiledSchema;
}
export const SCHEMA_VALIDATOR = Symbol('SchemaValidator');

export type InspectionRequest = {
  readonly datanetId: string;
  readonly content: Uint8Array;
  readonly nonce: bigint;
  readonly signature: Uint8Array;
  /** Content larger than this is not examined further (it will be rejected as too large). */
  readonly maxBytes: number;
  /** Return the decoded text (JSON-lines Datanets check it against their schema). */
  readonly wantText: boolean;
};

export type Inspection = {
  readonly contentHash: string;
  /** Lowercase hex address that signed (datanet, content hash, nonce); undefined for a malformed signature. */
  readonly signer: string | undefined;
  /** False when the content is not valid UTF-8; undefined when not examined (too large). */
  readonly utf8: boolean | undefined;
  readonly text: string | undefined;
  readonly minhash: Uint32Array | undefined;
};

/**
 * The CPU-heavy part of a submission (SHA-256, EIP-712 recovery, UTF-8, MinHash), which needs no
 * state: done on worker threads so the event loop keeps taking requests and deciding.
 */
export interface ContentInspector {
  inspect(request: InspectionRequest): Promise<Inspection>;
}
export const CONTENT_INSPECTOR = Symbol('ContentInspector');
