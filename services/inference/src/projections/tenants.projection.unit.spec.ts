import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Doc, RecordedEvent } from '@opal/event-sourcing';
import type { InferenceEvent } from '../domain/inference.events.js';
import { tenantsProjection, type TenantDoc } from './tenants.projection.js';

/** The tenant document after the events, as the projection runner folds them. */
function tenantAfter(events: InferenceEvent[]): TenantDoc | undefined {
  let doc: Doc | undefined;
  events.forEach((e, i) => {
    const recorded = { ...e, meta: { streamId: 's', streamSeq: i + 1, occurredAt: 0, eventId: '' } } as RecordedEvent<InferenceEvent>;
    for (const ref of tenantsProjection.route(recorded)) {
      if (ref.collection === 'inference_tenants') doc = tenantsProjection.evolve(ref, doc, recorded) ?? doc;
    }
  });
  return doc as TenantDoc | undefined;
}

describe('inference.tenants projection', () => {
  const fee = { inputFee: '0', outputFee: '30', platformFee: '0', total: '30' };
  const completed = (inferenceId: string): InferenceEvent => ({
    type: 'InferenceCompleted',
    data: { inferenceId, tenant: 't', adapterId: 'a', baseModelId: 'b', datanetVersions: [], outputText: '', retrievedContributions: [], usage: { promptTokens: 1, completionTokens: 15 }, fee, adapterOwner: '', finishReason: 'length' },
  });

  it('shows what open holds take, and the balance less the fees charged', () => {
    const t = tenantAfter([
      { type: 'TenantCreated', data: { tenant: 't', apiKeyHash: 'h' } },
      { type: 'TenantCredited', data: { tenant: 't', amount: '100', reference: 'd' } },
      { type: 'BalanceHeld', data: { tenant: 't', inferenceId: 'i1', amount: '40', expiresAt: 1n } },
      { type: 'BalanceHeld', data: { tenant: 't', inferenceId: 'i2', amount: '40', expiresAt: 1n } },
      completed('i1'),
      { type: 'HoldSettled', data: { tenant: 't', inferenceId: 'i1', charged: '30', amount: '40' } },
    ]);
    assert.deepEqual(t, { tenantId: 't', credited: '100', spent: '30', balance: '70', inferences: 1, held: '40', holding: true });
  });

  it("counts a fee once between its InferenceCompleted and its hold's settlement (a replica killed in between), as the write model does", () => {
    const t = tenantAfter([
      { type: 'TenantCreated', data: { tenant: 't', apiKeyHash: 'h' } },
      { type: 'TenantCredited', data: { tenant: 't', amount: '100', reference: 'd' } },
      { type: 'BalanceHeld', data: { tenant: 't', inferenceId: 'i1', amount: '40', expiresAt: 1n } },
      completed('i1'),
    ]);
    // Available (balance - held) is 60: the hold covers the fee until it is settled.
    assert.deepEqual(t, { tenantId: 't', credited: '100', spent: '0', balance: '100', inferences: 1, held: '40', holding: true });
  });

  it('takes a tenant whose holds are all settled as holding nothing', () => {
    const t = tenantAfter([
      { type: 'TenantCreated', data: { tenant: 't', apiKeyHash: 'h' } },
      { type: 'TenantCredited', data: { tenant: 't', amount: '100', reference: 'd' } },
      { type: 'BalanceHeld', data: { tenant: 't', inferenceId: 'i1', amount: '40', expiresAt: 1n } },
      { type: 'HoldSettled', data: { tenant: 't', inferenceId: 'i1', charged: '0', amount: '40' } },
    ]);
    assert.equal(t!.held, '0');
    assert.equal(t!.holding, false);
  });
});
