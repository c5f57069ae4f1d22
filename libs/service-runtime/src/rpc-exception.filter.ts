import { Catch, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import { EventLogError, TransientError, type EventLogErrorCode } from '@opal/event-log';
import { rpcError, type GrpcCode } from './rpc-error.js';

const eventLogCodes: Readonly<Record<EventLogErrorCode, GrpcCode>> = {
  VERSION_CONFLICT: 'ABORTED',
  CLOSED: 'UNAVAILABLE',
  UNAVAILABLE: 'UNAVAILABLE',
  CORRUPT: 'INTERNAL',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
};

/**
 * The gRPC status of an error from the platform's own infrastructure that a caller may act on: an
 * event-log error (ABORTED for a version conflict, UNAVAILABLE for the log away) or a store away
 * for now (TransientError, UNAVAILABLE). Undefined for anything else, including a corrupt log,
 * which is internal.
 */
export function infrastructureStatus(error: unknown): { readonly code: GrpcCode; readonly message: string } | undefined {
  if (error instanceof EventLogError && error.code !== 'CORRUPT') return { code: eventLogCodes[error.code], message: error.message };
  if (error instanceof TransientError) return { code: 'UNAVAILABLE', message: error.message };
  return undefined;
}

/** A service's own error type and the one exhaustive mapper that turns it into a gRPC status. */
export type ServiceErrorMapper = { readonly matches: (e: unknown) => boolean; readonly toRpc: (e: never) => RpcException };

/**
 * Turns whatever a handler throws into a gRPC status: the service's own errors through its mapper,
 * event-log errors (ABORTED for a version conflict), a store away for now UNAVAILABLE, anything else
 * INTERNAL without leaking details.
 */
export function createRpcExceptionFilter(mapper: ServiceErrorMapper, onInternal: (e: unknown) => void) {
  @Catch()
  class ServiceRpcExceptionFilter implements RpcExceptionFilter<unknown> {
    catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
      let rpc: RpcException;
      const known = infrastructureStatus(exception);
      if (exception instanceof RpcException) rpc = exception;
      else if (mapper.matches(exception)) rpc = mapper.toRpc(exception as never);
      else if (known) rpc = rpcError(known.code, known.message);
      else {
        onInternal(exception);
        rpc = rpcError('INTERNAL', 'internal error; see the service log');
      }
      return throwError(() => rpc.getError());
    }
  }
  return ServiceRpcExceptionFilter;
}
