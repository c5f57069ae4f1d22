import { infrastructureStatus, type GrpcCode } from '@opal/service-runtime';
import { InferenceServiceError, type InferenceServiceErrorCode } from '../../domain/inference.errors.js';

type Envelope = { status: number; type: string; code: string };

/** Every inference error code as an OpenAI error envelope; a new code fails compilation until mapped. */
const envelopeOf: Record<InferenceServiceErrorCode, Envelope> = {
  INVALID_FIELD: { status: 400, type: 'invalid_request_error', code: 'invalid_value' },
  INVALID_MODEL_FILE: { status: 400, type: 'invalid_request_error', code: 'invalid_model_file' },
  BASE_MODEL_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  BASE_MODEL_EXISTS: { status: 409, type: 'invalid_request_error', code: 'model_exists' },
  ADAPTER_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  ADAPTER_EXISTS: { status: 409, type: 'invalid_request_error', code: 'model_exists' },
  DATANET_VERSION_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'datanet_version_not_found' },
  TENANT_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'tenant_not_found' },
  TENANT_EXISTS: { status: 409, type: 'invalid_request_error', code: 'tenant_exists' },
  REFERENCE_USED: { status: 409, type: 'invalid_request_error', code: 'reference_used' },
  API_KEY_TAKEN: { status: 409, type: 'invalid_request_error', code: 'api_key_taken' },
  UNAUTHENTICATED: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  PERMISSION_DENIED: { status: 403, type: 'invalid_request_error', code: 'permission_denied' },
  INSUFFICIENT_BALANCE: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota' },
  CAPACITY_EXHAUSTED: { status: 429, type: 'rate_limit_error', code: 'capacity_exhausted' },
  ENGINE_UNAVAILABLE: { status: 503, type: 'server_error', code: 'engine_unavailable' },
  ENGINE_FAILURE: { status: 500, type: 'server_error', code: 'engine_failure' },
};

/**
 * The platform's own infrastructure errors a caller may act on (see infrastructureStatus): the log or
 * the store away for now, or a tenant's balance contended by other replicas past the retries. The
 * OpenAI clients retry 409 and 503 by themselves.
 */
const infrastructureEnvelope: Partial<Record<GrpcCode, Envelope>> = {
  ABORTED: { status: 409, type: 'server_error', code: 'conflict' },
  UNAVAILABLE: { status: 503, type: 'server_error', code: 'service_unavailable' },
  INVALID_ARGUMENT: { status: 400, type: 'invalid_request_error', code: 'invalid_value' },
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** The standard error envelope: { error: { message, type, param, code } }. */
export function errorBody(e: unknown): { status: number; body: object } {
  if (e instanceof HttpError) return { status: e.status, body: { error: { message: e.message, type: e.type, param: e.param, code: e.code } } };
  if (e instanceof InferenceServiceError) {
    const env = envelopeOf[e.code];
    const param = /^([a-z_[\]0-9.]+):/.exec(e.message)?.[1] ?? null;
    return { status: env.status, body: { error: { message: e.message, type: env.type, param, code: env.code } } };
  }
  const known = infrastructureStatus(e);
  const env = known && infrastructureEnvelope[known.code];
  if (known && env) return { status: env.status, body: { error: { message: known.message, type: env.type, param: null, code: env.code } } };
  return { status: 500, body: { error: { message: 'internal error; see the service log', type: 'server_error', param: null, code: null } } };
}

export const badRequest = (param: string, message: string) => new HttpError(400, 'invalid_request_error', 'invalid_value', `${param}: ${message}`, param);
