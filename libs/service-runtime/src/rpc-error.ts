import { status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';

export type GrpcCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** The gRPC status a client sees: the code, and a message that names the field or resource. */
export function rpcError(code: GrpcCode, message: string): RpcException {
  return new RpcException({ code: status[code], message });
}
