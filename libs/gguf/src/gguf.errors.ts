export type GgufErrorCode =
  | 'NOT_GGUF'
  | 'UNSUPPORTED_VERSION'
  | 'TRUNCATED'
  | 'MALFORMED'
  | 'NOT_A_BASE_MODEL'
  | 'NOT_AN_ADAPTER'
  | 'UNSUPPORTED_ADAPTER_TYPE'
  | 'ARCHITECTURE_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'MISSING_FIELD';

/** The one error type of this library; `field` names the header field, metadata key or tensor at fault. */
export class GgufError extends Error {
  constructor(
    readonly code: GgufErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'GgufError';
  }
}
