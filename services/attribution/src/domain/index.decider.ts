import type { AttributionEvent, AttributionIndexBuiltData } from './attribution.events.js';

/** A Datanet version's index stream: built once, named by its hash. */
export type IndexState = { readonly built: false } | { readonly built: true; readonly indexHash: string };

export const initialIndexState: IndexState = { built: false };

export function evolveIndex(state: IndexState, event: AttributionEvent): IndexState {
  switch (event.type) {
    case 'AttributionIndexBuilt':
      return state.built ? state : { built: true, indexHash: event.data.indexHash };
    case 'AttributionComputed':
      return state;
    default: {
      const never: never = event;
      return never;
    }
  }
}

export type IndexDecision = { readonly events: AttributionEvent[]; readonly outcome: 'built' | 'already-built' | 'hash-differs' };

/**
 * An index is announced once. A redelivered DatanetVersionPublished finds the stream built and
 * decides nothing; a rebuild that hashed differently is reported (the build is deterministic, so
 * that means the content or the code changed) and the first hash stands.
 */
export function decideIndexBuilt(state: IndexState, built: AttributionIndexBuiltData): IndexDecision {
  if (!state.built) return { events: [{ type: 'AttributionIndexBuilt', data: built }], outcome: 'built' };
  return { events: [], outcome: state.indexHash === built.indexHash ? 'already-built' : 'hash-differs' };
}
