export type EventLogErrorCode = 'VERSION_CONFLICT' | 'CLOSED' | 'CORRUPT' | 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'UNAVAILABLE';

/** The one error type of the event log; `code` says what went wrong, the message names the stream or field. */
export class EventLogError extends Error {
  constructor(
    readonly code: EventLogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EventLogError';
  }
}

/**
 * What a subscription handler throws when something it needs is away for now (its database, the
 * broker), not because of the events it was given: the log retries the batch until it goes through
 * and never takes its events for poison (no dead-lettering).
 */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** Whether a handler's error is one to wait out: a TransientError, or the log itself away or closing. */
export function isTransient(error: unknown): boolean {
  return error instanceof TransientError || (error instanceof EventLogError && (error.code === 'UNAVAILABLE' || error.code === 'CLOSED'));
}
