/** Recovers the signer of Opal's EIP-712 typed messages; undefined when the signature is malformed. */
export interface SignatureVerifier {
  contributionSigner(datanetId: string, contentHash: string, nonce: bigint, signature: Uint8Array): string | undefined;
  reviewSigner(datanetId: string, contributionId: string, approve: boolean, signature: Uint8Array): string | undefined;
}
export const SIGNATURE_VERIFIER = Symbol('SignatureVerifier');

/** Content-addressed storage of contribution bytes (files embedded, GridFS scaled out). */
export interface ContentStore {
  /** Stores durably; storing the same hash twice is a no-op. */
  put(contentHash: string, content: Uint8Array): Promise<void>;
  get(contentHash: string): Promise<Uint8Array | undefined>;
}
export const CONTENT_STORE = Symbol('ContentStore');

export type CompiledSchema = { validate(value: unknown): string | undefined };

/** JSON Schema validation for JSON-lines Datanets. */
export interface SchemaValidator {
  /** Compiles a schema; throws with a readable message when the schema itself is invalid. */
  compile(schemaJson: string): CompiledSchema;
}
export const SCHEMA_VALIDATOR = Symbol('SchemaValidator');
