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
  /**
   * The version of what `route` and `evolve` derive (1 when absent). Raise it with any change that
   * alters a document the same events would give: a read model kept by another version is then
   * not continued but built again from offset zero, so it still equals a replay of the log.
   */
  readonly version?: number;
  readonly codec: TypedEventCodec<E>;
  readonly collections: readonly CollectionSpec[];
  route(event: RecordedEvent<E>): readonly DocRef[];
  evolve(ref: DocRef, doc: Doc | undefined, event: RecordedEvent<E>): Doc | null | undefined;
};
