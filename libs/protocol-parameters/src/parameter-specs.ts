/** A protocol parameter: its genesis value holds until a ParametersChanged event sets another. */
export type ParameterSpec = { readonly name: string; readonly genesis: string; readonly description: string };

export const parameterSpecs: readonly ParameterSpec[] = [
  { name: 'fees.platform_fee_bps', genesis: '500', description: 'Platform fee added to each inference, basis points of the model price' },
  { name: 'fees.split.data_bps', genesis: '5000', description: "Data contributors' share of each fee, basis points" },
  { name: 'fees.split.model_owner_bps', genesis: '2500', description: "Adapter owner's share of each fee, basis points" },
  { name: 'fees.split.validators_bps', genesis: '1000', description: "Validators' and stakers' share of each fee, basis points" },
  { name: 'fees.split.infrastructure_bps', genesis: '1000', description: "Infrastructure providers' share of each fee, basis points" },
  { name: 'fees.split.treasury_bps', genesis: '500', description: "Treasury's share of each fee, basis points" },
  { name: 'attribution.min_span_tokens', genesis: '4', description: 'Shortest matching span that earns credit, in tokens' },
  { name: 'attribution.max_span_count', genesis: '1000', description: 'Spans occurring more often than this in the index earn nothing' },
  { name: 'attribution.contributor_cap_ppm', genesis: '500000', description: "Largest share of one output's credit one contributor can receive" },
  { name: 'attribution.retrieval_share_ppm', genesis: '300000', description: 'Share of credit given to retrieved contributions (RAG)' },
  { name: 'settlement.epoch_length_s', genesis: '86400', description: 'Length of a settlement epoch, seconds' },
  { name: 'governance.quorum_bps', genesis: '400', description: 'Votes needed for a valid proposal, basis points of supply at the snapshot' },
  { name: 'governance.voting_period_s', genesis: '259200', description: 'How long a proposal is open for votes, seconds' },
  { name: 'governance.timelock_s', genesis: '86400', description: 'Delay between success and execution, seconds' },
  { name: 'governance.validator_min_stake', genesis: '1000000000000000000000', description: 'Stake needed to be a validator, token base units' },
];
