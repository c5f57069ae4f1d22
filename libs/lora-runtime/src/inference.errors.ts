export type InferenceErrorCode =
  | 'BASE_MODEL_NOT_FOUND'
  | 'ADAPTER_NOT_FOUND'
  | 'ADAPTER_INVALID'
  | 'INVALID_ARGUMENT'
  | 'CAPACITY_EXHAUSTED'
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_FAILURE';

/** The one error type of the runtime; the service maps each code to a gRPC status. */
export class InferenceError extends Error {
  constructor(
    readonly code: InferenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InferenceError';
  }
}
