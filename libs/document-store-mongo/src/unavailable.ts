import { MongoError, MongoNetworkError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { TransientError } from '@opal/event-log';

/** A driver error that says the server is away for now, as TransientError; any other error as it is. */
export function unavailable(error: unknown): unknown {
  const away =
    error instanceof MongoNetworkError ||
    error instanceof MongoServerSelectionError ||
    error instanceof MongoTopologyClosedError ||
    (error instanceof MongoError && (error.hasErrorLabel('RetryableWriteError') || error.hasErrorLabel('ResetPool')));
  return away ? new TransientError(`mongodb unavailable: ${(error as Error).message}`, { cause: error }) : error;
}
