export type InferenceServiceErrorCode =
  | 'INVALID_FIELD'
  | 'INVALID_MODEL_FILE'
  | 'BASE_MODEL_NOT_FOUND'
  | 'BASE_MODEL_EXISTS'
  | 'ADAPTER_NOT_FOUND'
  | 'ADAPTER_EXISTS'
  | 'DATANET_VERSION_NOT_FOUND'
  | 'TENANT_NOT_FOUND'
  | 'TENANT_EXISTS'
  | 'REFERENCE_USED'
  | 'API_KEY_TAKEN'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INSUFFICIENT_BALANCE'
  | 'CAPACITY_EXHAUSTED'
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_FAILURE';

/** The inference service's one error type; each transport maps every code (gRPC, HTTP). */
export class InferenceServiceError extends Error {
  constructor(
    readonly code: InferenceServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InferenceServiceError';
  }
}
