import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedEvent } from '@opal/event-sourcing';
import type { InferenceEvent } from './inference.events.js';
import { availableBalance, decideCreditTenant, decideCreateTenant, decideHold, decideSettle, decideSettleExpired, evolveTenant, expiredHolds, initialTenant } from './tenant.decider.js';
import { decideRegisterAdapter, evolveRegistration, initialRegistration } from './registry.decider.js';
import { parameterSpecs } from '@opal/protocol-parameters';
import { quoteFee } from './pricing.js';
import { platformFeeBpsInForce } from '../application/fee-params-in-force.js';

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
    // Another amount under a used reference is another payment, not a retry: refused, naming both.
    assert.throws(
      () => decideCreditTenant(s2, { tenant: 't', amount: 7n, reference: 'dep-1' }),
      (e: any) => e.code === 'REFERENCE_USED' && /^reference: dep-1 already credited 5 to tenant t, not 7/.test(e.message),
    );
    assert.throws(() => decideCreateTenant(s2, { tenant: 't', apiKeyHash: 'x' }), /already exists/);
    // The same create again (a retry after a lost answer, with the key it gave): nothing to do.
    assert.deepEqual(decideCreateTenant(s2, created[0]!.data as { tenant: string; apiKeyHash: string }), []);
    assert.throws(() => decideCreditTenant(initialTenant(), { tenant: 'u', amount: 1n, reference: 'r' }), /no tenant/);
    assert.throws(() => decideCreditTenant(s2, { tenant: 't', amount: 0n, reference: 'r2' }), /positive/);
  });

  it('registers an adapter once', () => {
    const cmd = { adapterId: 'a', baseModelId: 'b', owner: '0x', uri: 'f', contentHash: 'h', datanetVersions: [], pricePer1kInput: '1', pricePer1kOutput: '2' };
    const events = decideRegisterAdapter(initialRegistration(), cmd);
    assert.equal(events[0]!.type, 'AdapterRegistered');
    const registered = given(evolveRegistration, initialRegistration(), events);
    assert.throws(() => decideRegisterAdapter(registered, { ...cmd, owner: '0x2' }), /already registered/);
    // The same registration again (a retry after a lost answer), its fields in any order: nothing to do.
    assert.deepEqual(decideRegisterAdapter(registered, { ...cmd }), []);
    assert.deepEqual(decideRegisterAdapter(registered, Object.fromEntries(Object.entries(cmd).reverse()) as typeof cmd), []);
  });

  it('quotes fees in integer base units, rounding each side up', () => {
    const { quote, total } = quoteFee({ pricePer1kInput: 1000n, pricePer1kOutput: 3n }, 7, 1);
    assert.deepEqual(quote, { inputFee: '7', outputFee: '1', platformFee: '0', total: '8' });
    assert.equal(total, 8n);
    assert.equal(quoteFee({ pricePer1kInput: 0n, pricePer1kOutput: 0n }, 100, 100).total, 0n);
  });

  it('adds the platform fee in force, basis points of the model price rounded up, and none to a free model', () => {
    assert.equal(platformFeeBpsInForce(), BigInt(parameterSpecs.find((p) => p.name === 'fees.platform_fee_bps')!.genesis), 'the value GetParameters reports');
    assert.deepEqual(quoteFee({ pricePer1kInput: 1000n, pricePer1kOutput: 3000n }, 7, 1, 500n).quote, { inputFee: '7', outputFee: '3', platformFee: '1', total: '11' });
    assert.deepEqual(quoteFee({ pricePer1kInput: 0n, pricePer1kOutput: 3000n }, 1, 1000, 500n).quote, { inputFee: '0', outputFee: '3000', platformFee: '150', total: '3150' });
    assert.equal(quoteFee({ pricePer1kInput: 0n, pricePer1kOutput: 0n }, 100, 100, 500n).total, 0n);
  });

  describe('balance holds', () => {
    const funded = () =>
      given(evolveTenant, initialTenant(), [
        { type: 'TenantCreated', data: { tenant: 't', apiKeyHash: 'h' } },
        { type: 'TenantCredited', data: { tenant: 't', amount: '100', reference: 'dep-1' } },
      ]);
    const hold = (inferenceId: string, amount: bigint, now = 0, outcomes = new Map<string, bigint>()) => ({ tenant: 't', inferenceId, amount, expiresAt: now + 1000, now, outcomes });

    it('holds up to the balance, counting open holds, and refuses past it', () => {
      let s = funded();
      s = given(evolveTenant, s, decideHold(s, hold('a', 60n)));
      assert.equal(availableBalance(s), 40n);
      assert.throws(() => decideHold(s, hold('b', 41n)), (e: any) => e.code === 'INSUFFICIENT_BALANCE' && /up to 41 base units; 40 available/.test(e.message));
      s = given(evolveTenant, s, decideHold(s, hold('b', 40n)));
      assert.equal(availableBalance(s), 0n);
      assert.deepEqual(decideHold(s, hold('a', 60n)), [], 'holding the same inference again changes nothing');
    });

    it('settles a hold once: the fee is charged, the rest of the hold is free again', () => {
      let s = funded();
      s = given(evolveTenant, s, decideHold(s, hold('a', 60n)));
      const settled = decideSettle(s, { tenant: 't', inferenceId: 'a', charged: 25n });
      assert.deepEqual(settled, [{ type: 'HoldSettled', data: { tenant: 't', inferenceId: 'a', charged: '25', amount: '60' } }]);
      s = given(evolveTenant, s, settled);
      assert.equal(availableBalance(s), 75n);
      assert.deepEqual(decideSettle(s, { tenant: 't', inferenceId: 'a', charged: 25n }), []);
      // A settlement of a hold already settled (a replayed duplicate) charges nothing more.
      s = given(evolveTenant, s, settled);
      assert.equal(s.charged, 25n);
    });

    it('settles expired holds from their looked-up outcomes in the same decision, and only expired ones', () => {
      let s = funded();
      s = given(evolveTenant, s, decideHold(s, hold('old', 70n, 0)));
      s = given(evolveTenant, s, decideHold(s, hold('young', 30n, 900)));
      assert.deepEqual(expiredHolds(s, 1000), ['old']);
      const outcomes = new Map([['old', 20n], ['young', 0n]]);
      assert.throws(() => decideHold(s, hold('new', 51n, 1000, outcomes)), /50 available/);
      const events = decideHold(s, hold('new', 50n, 1000, outcomes));
      assert.deepEqual(events.map((e) => e.type), ['HoldSettled', 'BalanceHeld']);
      s = given(evolveTenant, s, events);
      assert.deepEqual([...s.holds.keys()].sort(), ['new', 'young']);
      assert.equal(s.charged, 20n);
      assert.equal(availableBalance(s), 0n);
      assert.throws(() => decideHold(initialTenant(), hold('x', 1n)), /no tenant/);
    });

    it('charges at most what was held, settled at once or after expiry: the balance never goes below zero', () => {
      let s = funded(); // 100
      s = given(evolveTenant, s, decideHold(s, hold('a', 60n)));
      s = given(evolveTenant, s, decideHold(s, hold('old', 40n, 0)));
      const settled = decideSettle(s, { tenant: 't', inferenceId: 'a', charged: 61n });
      assert.deepEqual(settled, [{ type: 'HoldSettled', data: { tenant: 't', inferenceId: 'a', charged: '60', amount: '60' } }]);
      s = given(evolveTenant, s, settled);
      const expired = decideSettleExpired(s, { tenant: 't', now: 1000, outcomes: new Map([['old', 45n]]) });
      assert.deepEqual(expired.map((e) => (e.data as { charged: string }).charged), ['40']);
      s = given(evolveTenant, s, expired);
      assert.equal(s.charged, 100n);
      assert.equal(availableBalance(s), 0n);
    });
  });
});
