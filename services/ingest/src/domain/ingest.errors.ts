export type IngestErrorCode =
  | 'INVALID_FIELD'
  | 'DATANET_NOT_FOUND'
  | 'DATANET_EXISTS'
  | 'CONTRIBUTION_NOT_FOUND'
  | 'VERSION_NOT_FOUND'
  | 'VERSION_INCOMPLETE'
  | 'CONTENT_NOT_FOUND'
  | 'BAD_SIGNATURE'
  | 'NONCE_REPLAYED'
  | 'NOT_A_VALIDATOR'
  | 'NOT_PENDING_REVIEW'
  | 'NOTHING_TO_PUBLISH';

/** The ingest service's one error type; the gRPC adapter maps each code to a status. */
export class IngestError extends Error {
  constructor(
    readonly code: IngestErrorCode,
    message: string,
    /** The contribution the error is about, where there is one (a used nonce: the contribution it made). */
    readonly subject?: { readonly contributionId: string; readonly contentHash: string },
  ) {
    super(message);
    this.name = 'IngestError';
  }
}
