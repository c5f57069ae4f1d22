import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedEvent } from '@opal/event-sourcing';
import type { InferenceEvent } from './inference.events.js';
import { decideCreditTenant, decideCreateTenant, evolveTenant, initialTenant } from './tenant.decider.js';
import { decideRegisterAdapter, evolveRegistration, initialRegistration } from './registry.decider.js';
import { quoteFee } from './pricing.js';

const given = <S>(evolve: (s: S, e: RecordedEvent<InferenceEvent>) => S, init: S, events: InferenceEvent[]) =>
  events.reduce((s, e, i) => evolve(s, { ...e, meta: { streamId: 's', streamSeq: i + 1, occurredAt: 0, eventId: '' } } as RecordedEvent<InferenceEvent>), init);

describe('inference domain', () => {
  it('credits a tenant once per reference', () => {
    const created = decideCreateTenant(initialTenant(), { tenant: 't', apiKeyHash: 'h' });
    const s = given(evolveTenant, initialTenant(), created);
    const credit = decideCreditTenant(s, { tenant: 't', amount: 5n, reference: 'dep-1' });
    assert.equal(credit.length, 1);
    const s2 = given(evolveTenant, s, credit);
    assert.deepEqual(decideCreditTenant(s2, { tenant: 't', amount: 5n, reference: 'dep-1' }), []);
    assert.throws(() => decideCreateTenant(s2, { tenant: 't', apiKeyHash: 'x' }), /already exists/);
    assert.throws(() => decideCreditTenant(initialTenant(), { tenant: 'u', amount: 1n, reference: 'r' }), /no tenant/);
    assert.throws(() => decideCreditTenant(s2, { tenant: 't', amount: 0n, reference: 'r2' }), /positive/);
  });

  it('registers an adapter once', () => {
    const cmd = { adapterId: 'a', baseModelId: 'b', owner: '0x', uri: 'f', contentHash: 'h', datanetVersions: [], pricePer1kInput: '1', pricePer1kOutput: '2' };
    const events = decideRegisterAdapter(initialRegistration(), cmd);
    assert.equal(events[0]!.type, 'AdapterRegistered');
    assert.throws(() => decideRegisterAdapter(given(evolveRegistration, initialRegistration(), events), cmd), /already registered/);
  });

  it('quotes fees in integer base units, rounding each side up', () => {
    const { quote, total } = quoteFee({ pricePer1kInput: 1000n, pricePer1kOutput: 3n }, 7, 1);
    assert.deepEqual(quote, { inputFee: '7', outputFee: '1', platformFee: '0', total: '8' });
    assert.equal(total, 8n);
    assert.equal(quoteFee({ pricePer1kInput: 0n, pricePer1kOutput: 0n }, 100, 100).total, 0n);
  });
});
