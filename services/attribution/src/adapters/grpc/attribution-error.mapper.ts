import type { RpcException } from '@nestjs/microservices';
import { rpcError, type GrpcCode, type ServiceErrorMapper } from '@opal/service-runtime';
import { AttributionError, type AttributionErrorCode } from '../../domain/attribution.errors.js';

/** Every attribution error code and its gRPC status; a new code fails compilation until mapped here. */
const statusOf: Record<AttributionErrorCode, GrpcCode> = {
  INVALID_FIELD: 'INVALID_ARGUMENT',
  VERSION_NOT_FOUND: 'NOT_FOUND',
  INDEX_BUILDING: 'FAILED_PRECONDITION',
  INDEX_UNAVAILABLE: 'UNAVAILABLE',
  RECEIPT_NOT_FOUND: 'NOT_FOUND',
  RECEIPT_PENDING: 'FAILED_PRECONDITION',
  CONTRIBUTION_NOT_INDEXED: 'INVALID_ARGUMENT',
};

export const attributionErrorMapper: ServiceErrorMapper = {
  matches: (e) => e instanceof AttributionError,
  toRpc: (e: AttributionError): RpcException => rpcError(statusOf[e.code], e.message),
};
