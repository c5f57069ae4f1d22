export type AttributionErrorCode =
  | 'INVALID_FIELD'
  | 'VERSION_NOT_FOUND'
  | 'INDEX_BUILDING'
  | 'INDEX_UNAVAILABLE'
  | 'RECEIPT_NOT_FOUND'
  | 'RECEIPT_PENDING'
  | 'CONTRIBUTION_NOT_INDEXED';

/** The attribution service's one error type; the gRPC adapter maps each code to a status. */
export class AttributionError extends Error {
  constructor(
    readonly code: AttributionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AttributionError';
  }
}
