import type { DomainEvent } from '@opal/event-sourcing';

export type Span = { outputStart: number; length: number; count: bigint; contributions: string[] };
export type ContributorWeight = { contributor: string; weightPpm: number };

export type AttributionEvent =
  | DomainEvent<'AttributionIndexBuilt', { datanetId: string; version: number; indexHash: string; tokens: bigint; shards: number; tokenizer: string }>
  | DomainEvent<
      'AttributionComputed',
      { inferenceId: string; indexHashes: string[]; methodVersion: string; spans: Span[]; weights: ContributorWeight[]; outputHash: string }
    >;

export const attributionEventTypes: readonly AttributionEvent['type'][] = ['AttributionIndexBuilt', 'AttributionComputed'];
