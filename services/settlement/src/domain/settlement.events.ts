import type { DomainEvent } from '@opal/event-sourcing';

export type Share = { account: string; role: string; amount: string };

export type SettlementEvent =
  | DomainEvent<'FeeCharged', { inferenceId: string; tenant: string; amount: string; shares: Share[] }>
  | DomainEvent<'RewardsAccrued', { epoch: string; shares: Share[] }>
  | DomainEvent<'EpochClosed', { epoch: bigint; merkleRoot: string; logDigest: string; total: string; accounts: number }>
  | DomainEvent<'EpochRootSubmitted', { epoch: bigint; txHash: string; nonce: bigint }>
  | DomainEvent<'EpochRootFinalized', { epoch: bigint; txHash: string; blockNumber: bigint }>
  | DomainEvent<'DepositObserved', { account: string; amount: string; txHash: string; logIndex: number }>
  | DomainEvent<'ClaimObserved', { account: string; cumulativeAmount: string; txHash: string; logIndex: number }>;

export const settlementEventTypes: readonly SettlementEvent['type'][] = [
  'FeeCharged',
  'RewardsAccrued',
  'EpochClosed',
  'EpochRootSubmitted',
  'EpochRootFinalized',
  'DepositObserved',
  'ClaimObserved',
];
