import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { CollectionSpec, Doc } from './document-store.port.js';
import type { TypedEventCodec } from './typed-event-codec.js';

export type DocRef = { readonly collection: string; readonly id: string };

/**
 * A read model. `route` names the documents an event touches; `evolve` is a pure reducer per
 * document: given the document (or undefined) and the event it returns the new document, null to
 * delete it, or the same object for no change. No clock, randomness or I/O: replaying the same
 * events always gives byte-identical documents.
 */
export type Projection<E extends DomainEvent> = {
  readonly name: string;
  readonly codec: TypedEventCodec<E>;
  readonly collections: readonly CollectionSpec[];
  route(event: RecordedEvent<E>): readonly DocRef[];
  evolve(ref: DocRef, doc: Doc | undefined, event: RecordedEvent<E>): Doc | null | undefined;
};
