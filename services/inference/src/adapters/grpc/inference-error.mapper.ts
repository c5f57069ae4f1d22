import type { RpcException } from '@nestjs/microservices';
import { rpcError, type GrpcCode, type ServiceErrorMapper } from '@opal/service-runtime';
import { InferenceServiceError, type InferenceServiceErrorCode } from '../../domain/inference.errors.js';

/** Every inference error code and its gRPC status; a new code fails compilation until mapped here. */
const statusOf: Record<InferenceServiceErrorCode, GrpcCode> = {
  INVALID_FIELD: 'INVALID_ARGUMENT',
  INVALID_MODEL_FILE: 'INVALID_ARGUMENT',
  BASE_MODEL_NOT_FOUND: 'NOT_FOUND',
  BASE_MODEL_EXISTS: 'ALREADY_EXISTS',
  ADAPTER_NOT_FOUND: 'NOT_FOUND',
  ADAPTER_EXISTS: 'ALREADY_EXISTS',
  DATANET_VERSION_NOT_FOUND: 'NOT_FOUND',
  TENANT_NOT_FOUND: 'NOT_FOUND',
  TENANT_EXISTS: 'ALREADY_EXISTS',
  REFERENCE_USED: 'ALREADY_EXISTS',
  API_KEY_TAKEN: 'ALREADY_EXISTS',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  INSUFFICIENT_BALANCE: 'RESOURCE_EXHAUSTED',
  CAPACITY_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  ENGINE_UNAVAILABLE: 'UNAVAILABLE',
  ENGINE_FAILURE: 'INTERNAL',
};

export const inferenceErrorMapper: ServiceErrorMapper = {
  matches: (e) => e instanceof InferenceServiceError,
  toRpc: (e: InferenceServiceError): RpcException => rpcError(statusOf[e.code], e.message),
};
