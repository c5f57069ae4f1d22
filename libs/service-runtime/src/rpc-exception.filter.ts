import { Catch, Inject, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { throwError, type Observable } from 'rxjs';
import { EventLogError, TransientError, type EventLogErrorCode } from '@opal/event-log';
import type { Logger } from 'pino';
import { LOGGER } from './logger.js';
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

/** The gRPC method a call is to (`/opal.ingest.v1.IngestService/CreateDatanet`), from its call object; undefined where there is none. */
function grpcMethod(host: ArgumentsHost): string | undefined {
  const call: unknown = host.getArgs()?.find((a: unknown) => typeof (a as { getPath?: unknown } | null)?.getPath === 'function');
  return call ? String((call as { getPath: () => unknown }).getPath()) : undefined;
}

/** A service's own error type and the one exhaustive mapper that turns it into a gRPC status. */
export type ServiceErrorMapper = { readonly matches: (e: unknown) => boolean; readonly toRpc: (e: never) => RpcException };

/** For a service whose errors are all infrastructure's or internal. */
export const noServiceErrors: ServiceErrorMapper = { matches: () => false, toRpc: () => rpcError('INTERNAL', '') };

/**
 * Turns whatever a handler of `service` throws into a gRPC status: the service's own errors through
 * its mapper, event-log errors (ABORTED for a version conflict), a store away for now UNAVAILABLE,
 * anything else INTERNAL without leaking details to the caller, and logged whole (with the method)
 * for whoever runs the service. Use it as a class (`@UseFilters(Filter)`), so that Nest gives it the
 * process's logger.
 */
export function createRpcExceptionFilter(service: string, mapper: ServiceErrorMapper) {
  @Catch()
  class ServiceRpcExceptionFilter implements RpcExceptionFilter<unknown> {
    constructor(@Inject(LOGGER) private readonly logger: Logger) {}

    catch(exception: unknown, host: ArgumentsHost): Observable<never> {
      let rpc: RpcException;
      const known = infrastructureStatus(exception);
      if (exception instanceof RpcException) rpc = exception;
      else if (mapper.matches(exception)) rpc = mapper.toRpc(exception as never);
      else if (known) rpc = rpcError(known.code, known.message);
      else {
        this.logger.error({ err: exception, service, method: grpcMethod(host) }, 'request failed with an internal error');
        rpc = rpcError('INTERNAL', 'internal error; see the service log');
      }
      return throwError(() => rpc.getError());
    }
  }
  return ServiceRpcExceptionFilter;
}
