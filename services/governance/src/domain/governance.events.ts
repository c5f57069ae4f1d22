import type { DomainEvent } from '@opal/event-sourcing';

export type ParameterChange = { name: string; value: string };

export type GovernanceEvent =
  | DomainEvent<'ProposalCreated', { proposalId: string; proposer: string; description: string; changes: ParameterChange[]; snapshotBlock: bigint; votingEndsAt: bigint }>
  | DomainEvent<'VoteCast', { proposalId: string; voter: string; support: boolean; weight: string; signature: Uint8Array }>
  | DomainEvent<'ProposalSucceeded', { proposalId: string; votesFor: string; votesAgainst: string; executableAt: bigint }>
  | DomainEvent<'ProposalDefeated', { proposalId: string; votesFor: string; votesAgainst: string; reason: string }>
  | DomainEvent<'ProposalExecuted', { proposalId: string }>
  | DomainEvent<'ParametersChanged', { proposalId: string; changes: ParameterChange[]; effectiveFrom: bigint }>
  | DomainEvent<'StakeChanged', { account: string; staked: string }>
  | DomainEvent<'ValidatorSlashed', { validator: string; amount: string; contributionId: string; reason: string }>;

export const governanceEventTypes: readonly GovernanceEvent['type'][] = [
  'ProposalCreated',
  'VoteCast',
  'ProposalSucceeded',
  'ProposalDefeated',
  'ProposalExecuted',
  'ParametersChanged',
  'StakeChanged',
  'ValidatorSlashed',
];
