/** A domain event: a fact in the past tense with its data, as the domain sees it. */
export type DomainEvent<T extends string = string, D = unknown> = { readonly type: T; readonly data: D };

/** Where a recorded event came from; given to reducers that need the event's time or stream. */
export type EventMeta = {
  readonly streamId: string;
  readonly streamSeq: number;
  readonly occurredAt: number;
  readonly eventId: string;
};

export type RecordedEvent<E extends DomainEvent = DomainEvent> = E & { readonly meta: EventMeta };
