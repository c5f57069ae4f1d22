import type { Doc, Projection } from '@opal/event-sourcing';
import { ingestCodec } from '../application/datanet.repository.js';
import type { IngestEvent } from '../domain/ingest.events.js';

export type ContributionDoc = {
  contributionId: string;
  datanetId: string;
  contributor: string;
  contentHash: string;
  sizeBytes: number;
  status: 'ACCEPTED' | 'PENDING_REVIEW' | 'REJECTED';
  reason: string;
  duplicateOf: string;
  /** Unix ms of the submission (formatted at the edge). */
  submittedAt: number;
  /** Log order within the Datanet, for stable listing. */
  seq: number;
};

export type ContributorDoc = {
  contributor: string;
  datanetId: string;
  submitted: number;
  accepted: number;
  rejected: number;
  pendingReview: number;
  acceptedBytes: number;
};

const ALL = '*';

/** Contributions, and per-contributor counters overall (datanetId '*') and per Datanet. */
export const ingestContributionsProjection: Projection<IngestEvent> = {
  name: 'ingest.contributions',
  codec: ingestCodec,
  collections: [
    { name: 'ingest_contributions', indexes: ['contributor', 'datanetId'] },
    { name: 'ingest_contributors', indexes: ['datanetId'] },
  ],
  route(e) {
    if (e.type === 'DatanetCreated' || e.type === 'DatanetVersionPublished' || e.type === 'ContributionReviewed') return [];
    const { contributionId, contributor, datanetId } = e.data;
    return [
      { collection: 'ingest_contributions', id: contributionId },
      { collection: 'ingest_contributors', id: `${ALL}/${contributor}` },
      { collection: 'ingest_contributors', id: `${datanetId}/${contributor}` },
    ];
  },
  evolve(ref, doc, e): Doc | undefined {
    if (e.type === 'DatanetCreated' || e.type === 'DatanetVersionPublished' || e.type === 'ContributionReviewed') return undefined;
    if (ref.collection === 'ingest_contributions') {
      const c = doc as ContributionDoc | undefined;
      switch (e.type) {
        case 'ContributionSubmitted':
          return {
            contributionId: e.data.contributionId,
            datanetId: e.data.datanetId,
            contributor: e.data.contributor,
            contentHash: e.data.contentHash,
            sizeBytes: e.data.sizeBytes,
            status: 'PENDING_REVIEW',
            reason: '',
            duplicateOf: '',
            submittedAt: e.meta.occurredAt,
            seq: e.meta.streamSeq,
          } satisfies ContributionDoc;
        case 'ContributionAccepted':
          return c && { ...c, status: 'ACCEPTED' };
        case 'ContributionRejected':
          if (c) return { ...c, status: 'REJECTED', reason: e.data.reason };
          return {
            contributionId: e.data.contributionId,
            datanetId: e.data.datanetId,
            contributor: e.data.contributor,
            contentHash: e.data.contentHash,
            sizeBytes: e.data.sizeBytes,
            status: 'REJECTED',
            reason: e.data.reason,
            duplicateOf: e.data.duplicateOf,
            submittedAt: e.meta.occurredAt,
            seq: e.meta.streamSeq,
          } satisfies ContributionDoc;
      }
    }
    const base: ContributorDoc = (doc as ContributorDoc | undefined) ?? {
      contributor: e.data.contributor,
      datanetId: ref.id.slice(0, ref.id.indexOf('/')),
      submitted: 0,
      accepted: 0,
      rejected: 0,
      pendingReview: 0,
      acceptedBytes: 0,
    };
    switch (e.type) {
      case 'ContributionSubmitted':
        return { ...base, submitted: base.submitted + 1, pendingReview: base.pendingReview + 1 };
      case 'ContributionAccepted':
        return { ...base, pendingReview: base.pendingReview - 1, accepted: base.accepted + 1, acceptedBytes: base.acceptedBytes + e.data.sizeBytes };
      case 'ContributionRejected':
        return e.data.reason === 'REVIEW_DECLINED'
          ? { ...base, pendingReview: base.pendingReview - 1, rejected: base.rejected + 1 }
          : { ...base, submitted: base.submitted + 1, rejected: base.rejected + 1 };
    }
  },
};

export const allDatanets = ALL;
