import { MongoBulkWriteError, MongoError, MongoNetworkError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { TransientError } from '@opal/event-log';

/** A driver error that says the server is away for now, as TransientError; any other error as it is. */
export function unavailable(error: unknown): unknown {
  return away(error) || away(failedCommand(error)) ? new TransientError(`mongodb unavailable: ${(error as Error).message}`, { cause: error }) : error;
}

function away(error: unknown): boolean {
  return (
    error instanceof MongoNetworkError ||
    error instanceof MongoServerSelectionError ||
    error instanceof MongoTopologyClosedError ||
    (error instanceof MongoError && (error.hasErrorLabel('RetryableWriteError') || error.hasErrorLabel('ResetPool')))
  );
}

/**
 * The error of a bulk write's command that failed as a whole: the driver wraps it in a bulk write
 * error (keeping it as `errorResponse`), without its class or, once the connection pool has been
 * reset, its labels (a connection refused after the server went away).
 */
function failedCommand(error: unknown): unknown {
  if (!(error instanceof MongoBulkWriteError)) return undefined;
  const response: unknown = (error as { errorResponse?: unknown }).errorResponse;
  return response instanceof Error ? response : undefined;
}
