import type { RpcException } from '@nestjs/microservices';
import { rpcError, type GrpcCode, type ServiceErrorMapper } from '@opal/service-runtime';
import { IngestError, type IngestErrorCode } from '../../domain/ingest.errors.js';

/** Every ingest error code and its gRPC status; a new code fails compilation until mapped here. */
const statusOf: Record<IngestErrorCode, GrpcCode> = {
  INVALID_FIELD: 'INVALID_ARGUMENT',
  DATANET_NOT_FOUND: 'NOT_FOUND',
  DATANET_EXISTS: 'ALREADY_EXISTS',
  CONTRIBUTION_NOT_FOUND: 'NOT_FOUND',
  VERSION_NOT_FOUND: 'NOT_FOUND',
  VERSION_INCOMPLETE: 'UNAVAILABLE',
  CONTENT_NOT_FOUND: 'NOT_FOUND',
  BAD_SIGNATURE: 'UNAUTHENTICATED',
  NONCE_REPLAYED: 'ALREADY_EXISTS',
  NOT_A_VALIDATOR: 'PERMISSION_DENIED',
  NOT_PENDING_REVIEW: 'FAILED_PRECONDITION',
  NOTHING_TO_PUBLISH: 'FAILED_PRECONDITION',
};

export const ingestErrorMapper: ServiceErrorMapper = {
  matches: (e) => e instanceof IngestError,
  toRpc: (e: IngestError): RpcException => rpcError(statusOf[e.code], e.message),
};
