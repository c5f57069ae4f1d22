import { TypedEventCodec, type Doc, type Projection } from '@opal/event-sourcing';
import { settlementEventTypes, type SettlementEvent } from '../domain/settlement.events.js';

export const settlementCodec = new TypedEventCodec<SettlementEvent>('opal.settlement.v1', settlementEventTypes);

/** Amounts are decimal strings of token base units; arithmetic is bigint. */
export type BalanceDoc = { account: string; accrued: string; claimed: string };

const add = (a: string, b: string) => (BigInt(a) + BigInt(b)).toString();

/** Accrued rewards per account (from fee shares) and what each has claimed on-chain (cumulative). */
export const balancesProjection: Projection<SettlementEvent> = {
  name: 'settlement.balances',
  codec: settlementCodec,
  collections: [{ name: 'settlement_balances', indexes: [] }],
  route(e) {
    if (e.type === 'FeeCharged' || e.type === 'RewardsAccrued') {
      return [...new Set(e.data.shares.map((s) => s.account))].map((id) => ({ collection: 'settlement_balances', id }));
    }
    if (e.type === 'ClaimObserved') return [{ collection: 'settlement_balances', id: e.data.account }];
    return [];
  },
  evolve(ref, doc, e): Doc | undefined {
    const b = (doc as BalanceDoc | undefined) ?? { account: ref.id, accrued: '0', claimed: '0' };
    switch (e.type) {
      case 'FeeCharged':
      case 'RewardsAccrued': {
        let accrued = b.accrued;
        for (const s of e.data.shares) if (s.account === ref.id) accrued = add(accrued, s.amount);
        return { ...b, accrued };
      }
      case 'ClaimObserved':
        // Claims are cumulative on-chain: the largest observed total is what has been paid.
        return BigInt(e.data.cumulativeAmount) > BigInt(b.claimed) ? { ...b, claimed: e.data.cumulativeAmount } : b;
      default:
        return undefined;
    }
  },
};
