import type { Doc, Projection, RecordedEvent } from '@opal/event-sourcing';
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

/** A contribution's first document: from its submission, or from a rejection at submission. */
function newContribution(
  e: RecordedEvent<Extract<IngestEvent, { type: 'ContributionSubmitted' | 'ContributionRejected' }>>,
  status: ContributionDoc['status'],
  reason: string,
  duplicateOf: string,
): ContributionDoc {
  const d = e.data;
  return {
    contributionId: d.contributionId,
    datanetId: d.datanetId,
    contributor: d.contributor,
    contentHash: d.contentHash,
    sizeBytes: d.sizeBytes,
    status,
    reason,
    duplicateOf,
    submittedAt: e.meta.occurredAt,
    seq: e.meta.streamSeq,
  };
}

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
          return newContribution(e, 'PENDING_REVIEW', '', '');
        case 'ContributionAccepted':
          return c && { ...c, status: 'ACCEPTED' };
        case 'ContributionRejected':
          if (c) return { ...c, status: 'REJECTED', reason: e.data.reason };
          return newContribution(e, 'REJECTED', e.data.reason, e.data.duplicateOf);
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
