import { TypedEventCodec, type Projection } from '@opal/event-sourcing';
import { governanceEventTypes, type GovernanceEvent } from '../domain/governance.events.js';

export const governanceCodec = new TypedEventCodec<GovernanceEvent>('opal.governance.v1', governanceEventTypes);

export type ParameterDoc = { name: string; value: string; setBy: string; effectiveFrom: string };

/** Parameters set by executed proposals; a parameter without a document holds its genesis value. */
export const parametersProjection: Projection<GovernanceEvent> = {
  name: 'governance.parameters',
  codec: governanceCodec,
  collections: [{ name: 'governance_parameters', indexes: [] }],
  route: (e) => (e.type === 'ParametersChanged' ? [...new Set(e.data.changes.map((c) => c.name))].map((id) => ({ collection: 'governance_parameters', id })) : []),
  evolve(ref, _doc, e) {
    if (e.type !== 'ParametersChanged') return undefined;
    // A change that sets one parameter twice: the last one stands, as for anyone applying them in order.
    const change = e.data.changes.filter((c) => c.name === ref.id).at(-1)!;
    return { name: change.name, value: change.value, setBy: e.data.proposalId, effectiveFrom: e.data.effectiveFrom.toString() } satisfies ParameterDoc;
  },
};
