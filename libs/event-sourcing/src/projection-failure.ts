import { isTransient } from '@opal/event-log';

/**
 * What a projection's own code (its codec, route or evolve) threw on one event, naming the
 * projection and the event: its type, stream and sequence, and where the log holds it. A live
 * subscription's dead letter carries this as its reason, and a replay stops with it, so the event
 * can be found (opal log export, opal log dead-letters).
 */
export class ProjectionEventError extends Error {
  constructor(projection: string, event: string, cause: unknown) {
    super(`projection ${projection}: on ${event}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ProjectionEventError';
  }
}

/** `error` as a ProjectionEventError on `event`; a transient error (its store away) or one already naming its event as it is. */
export function failedOn(projection: string, event: string, error: unknown): unknown {
  if (isTransient(error) || error instanceof ProjectionEventError) return error;
  return new ProjectionEventError(projection, event, error);
}

/** How an error names an event: `type stream#seq` and, where known, `partition@offset`. */
export function nameEvent(e: { readonly type: string; readonly streamId: string; readonly streamSeq: number }, position?: { readonly partition: string; readonly offset: number }): string {
  return `${e.type} ${e.streamId}#${e.streamSeq}${position ? ` (${position.partition}@${position.offset})` : ''}`;
}
