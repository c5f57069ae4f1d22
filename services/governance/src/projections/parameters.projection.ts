import { TypedEventCodec, type Projection } from '@opal/event-sourcing';
import { governanceEventTypes, type GovernanceEvent } from '../domain/governance.events.js';

export const governanceCodec = new TypedEventCodec<GovernanceEvent>('opal.governance.v1', governanceEventTypes);

export type ParameterDoc = { name: string; value: string; setBy: string; effectiveFrom: string };

/** Parameters set by executed proposals; a parameter without a document holds its genesis value. */
export const parametersProjection: Projection<GovernanceEvent> = {
  name: 'governance.parameters',
  codec: governanceCodec,
  collections: [{ name: 'governance_parameters', indexes: [] }],
  route: (e) => (e.type === 'ParametersChanged' ? e.data.changes.map((c) => ({ collection: 'governance_parameters', id: c.name })) : []),
  evolve(ref, _doc, e) {
    if (e.type !== 'ParametersChanged') return undefined;
    const change = e.data.changes.find((c) => c.name === ref.id)!;
    return { name: change.name, value: change.value, setBy: e.data.proposalId, effectiveFrom: e.data.effectiveFrom.toString() } satisfies ParameterDoc;
  },
};
