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
