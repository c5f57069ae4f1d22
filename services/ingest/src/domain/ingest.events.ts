import type { DomainEvent } from '@opal/event-sourcing';

// The ingest service's events, as the domain sees them (the protobuf messages in
// proto/opal/ingest/v1/events.proto carry exactly these fields).

export type ContributionPolicy = {
  maxItemBytes: number;
  dailyQuota: number;
  reviewRequired: boolean;
  nearDuplicatePpm: number;
  validators: string[];
};

export type DataKind = 'text' | 'jsonl';

export type RejectionReason =
  | 'TOO_LARGE'
  | 'INVALID_UTF8'
  | 'SCHEMA_MISMATCH'
  | 'DUPLICATE'
  | 'NEAR_DUPLICATE'
  | 'QUOTA_EXCEEDED'
  | 'REVIEW_DECLINED';

export type DatanetCreated = DomainEvent<
  'DatanetCreated',
  {
    datanetId: string;
    name: string;
    description: string;
    tags: string[];
    dataKind: string;
    jsonSchema: string;
    license: string;
    owner: string;
    policy: ContributionPolicy | undefined;
  }
>;

export type ContributionSubmitted = DomainEvent<
  'ContributionSubmitted',
  {
    datanetId: string;
    contributionId: string;
    contributor: string;
    contentHash: string;
    sizeBytes: number;
    nonce: bigint;
    signature: Uint8Array;
    minhash: Uint8Array;
  }
>;

export type ContributionAccepted = DomainEvent<
  'ContributionAccepted',
  { datanetId: string; contributionId: string; contributor: string; contentHash: string; sizeBytes: number }
>;

export type ContributionRejected = DomainEvent<
  'ContributionRejected',
  {
    datanetId: string;
    contributionId: string;
    contributor: string;
    reason: string;
    detail: string;
    duplicateOf: string;
    contentHash: string;
    sizeBytes: number;
    nonce: bigint;
  }
>;

export type ContributionReviewed = DomainEvent<
  'ContributionReviewed',
  { datanetId: string; contributionId: string; validator: string; approved: boolean; comment: string; signature: Uint8Array }
>;

export type ManifestEntry = { contributionId: string; contentHash: string; contributor: string };

/**
 * A version's manifest is the first `carried` entries of the previous version's (all of them)
 * followed by `entries`, the contributions accepted since; `merkleRoot` and `totalBytes` are the
 * whole manifest's. Versions written with `carried` 0 list the whole manifest.
 */
export type DatanetVersionPublished = DomainEvent<
  'DatanetVersionPublished',
  { datanetId: string; version: number; carried: number; entries: ManifestEntry[]; merkleRoot: string; totalBytes: bigint }
>;

export type IngestEvent =
  | DatanetCreated
  | ContributionSubmitted
  | ContributionAccepted
  | ContributionRejected
  | ContributionReviewed
  | DatanetVersionPublished;

export const ingestEventTypes: readonly IngestEvent['type'][] = [
  'DatanetCreated',
  'ContributionSubmitted',
  'ContributionAccepted',
  'ContributionRejected',
  'ContributionReviewed',
  'DatanetVersionPublished',
];

export const datanetStream = (datanetId: string) => `datanet-${datanetId}`;
