import type { DomainEvent } from '@opal/event-sourcing';

// The attribution service's events, as the domain sees them (the protobuf messages in
// proto/opal/attribution/v1/events.proto carry exactly these fields).

export type Span = {
  /** UTF-16 offset and length of the span in the output text. */
  outputStart: number;
  length: number;
  count: bigint;
  contributions: string[];
  tokens: number;
  weight: bigint;
};

export type ContributorWeight = { contributor: string; weightPpm: number };

export type ReceiptParams = {
  minSpanTokens: number;
  maxSpanCount: number;
  copyMinTokens: number;
  maxContributorSharePpm: number;
  retrievalSharePpm: number;
};

export type AttributionIndexBuiltData = {
  datanetId: string;
  version: number;
  indexHash: string;
  tokens: bigint;
  shards: number;
  tokenizer: string;
  documents: number;
};

export type AttributionComputedData = {
  inferenceId: string;
  indexHashes: string[];
  methodVersion: string;
  spans: Span[];
  weights: ContributorWeight[];
  outputHash: string;
  datanetVersions: string[];
  retrievedContributions: string[];
  params: ReceiptParams | undefined;
  outputTokens: number;
  combinedIndexHash: string;
};

export type AttributionIndexBuilt = DomainEvent<'AttributionIndexBuilt', AttributionIndexBuiltData>;
export type AttributionComputed = DomainEvent<'AttributionComputed', AttributionComputedData>;
export type AttributionEvent = AttributionIndexBuilt | AttributionComputed;

export const attributionEventTypes: readonly AttributionEvent['type'][] = ['AttributionIndexBuilt', 'AttributionComputed'];

/** One stream per Datanet version's index: at most one AttributionIndexBuilt each. */
export const indexStream = (datanetId: string, version: number) => `attribution-index-${datanetId}@${version}`;
/** One stream per inference: exactly one AttributionComputed each. */
export const receiptStream = (inferenceId: string) => `attribution-${inferenceId}`;
