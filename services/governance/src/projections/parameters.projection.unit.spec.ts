import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedEvent } from '@opal/event-sourcing';
import type { GovernanceEvent } from '../domain/governance.events.js';
import { parametersProjection } from './parameters.projection.js';

const changed = (changes: { name: string; value: string }[]): RecordedEvent<GovernanceEvent> =>
  ({ type: 'ParametersChanged', data: { proposalId: 'p1', changes, effectiveFrom: 7n }, meta: { streamId: 'proposal-p1', streamSeq: 3, occurredAt: 1, eventId: 'e' } }) as RecordedEvent<GovernanceEvent>;

describe('governance parameters read model', () => {
  it('keeps one document per parameter a change sets, with its value, the proposal and where it takes effect', () => {
    const e = changed([{ name: 'fees.platform_fee_bps', value: '300' }, { name: 'attribution.min_span_tokens', value: '5' }]);
    const refs = parametersProjection.route(e);
    assert.deepEqual(refs.map((r) => r.id), ['fees.platform_fee_bps', 'attribution.min_span_tokens']);
    assert.deepEqual(parametersProjection.evolve(refs[0]!, undefined, e), { name: 'fees.platform_fee_bps', value: '300', setBy: 'p1', effectiveFrom: '7' });
  });

  it('takes the last value of a parameter one change sets twice, as anyone applying the changes in order does', () => {
    const e = changed([{ name: 'fees.platform_fee_bps', value: '600' }, { name: 'fees.platform_fee_bps', value: '700' }]);
    const refs = parametersProjection.route(e);
    assert.deepEqual(refs.map((r) => r.id), ['fees.platform_fee_bps'], 'one document, written once');
    assert.equal((parametersProjection.evolve(refs[0]!, undefined, e) as { value: string }).value, '700');
  });
});
