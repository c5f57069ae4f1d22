import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialTenant, type TenantState } from './tenant.decider.js';
import { tenantSnapshot } from './tenant.snapshot.js';

describe('tenant snapshot', () => {
  it('gives back the state it was made of: references, amounts past 2^53, open holds in order', () => {
    const s: TenantState = {
      created: true,
      apiKeyHash: 'ab'.repeat(32),
      references: new Map([['top-up 1', 5n], ['top-up "2"', 2n ** 80n + 2n]]),
      credited: 2n ** 80n + 7n,
      charged: 12_345_678_901_234_567_890n,
      holds: new Map([
        ['inf-b', { amount: 9_007_199_254_740_993n, expiresAt: 1_700_000_000_000 }],
        ['inf-a', { amount: 1n, expiresAt: 1_700_000_000_001 }],
      ]),
    };
    const back = tenantSnapshot.decode(tenantSnapshot.encode(s));
    assert.deepEqual(back, s);
    assert.deepEqual([...back.holds.keys()], ['inf-b', 'inf-a']);
    assert.deepEqual(tenantSnapshot.decode(tenantSnapshot.encode(initialTenant())), initialTenant());
  });
});
