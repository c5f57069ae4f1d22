export type EventLogErrorCode = 'VERSION_CONFLICT' | 'CLOSED' | 'CORRUPT' | 'INVALID_ARGUMENT' | 'UNAVAILABLE';

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
