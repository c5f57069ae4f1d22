import type { Doc, Projection, RecordedEvent, SortKey } from '@opal/event-sourcing';
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

/** The order contributions are listed in (ListContributions), by Datanet or by contributor. */
export const CONTRIBUTION_ORDER: readonly SortKey[] = [
  { field: 'datanetId', order: 'asc' },
  { field: 'seq', order: 'asc' },
];

/** The order of a leaderboard (GetLeaderboard): most accepted first, then most bytes. */
export const LEADERBOARD_ORDER: readonly SortKey[] = [
  { field: 'accepted', order: 'desc' },
  { field: 'acceptedBytes', order: 'desc' },
  { field: 'contributor', order: 'asc' },
];

// Contributor document ids, made once per (Datanet, contributor): a freshly concatenated string
// costs far more as a map key than one already hashed, and each id is looked up on every event.
// Holds one string per contributor document, which the read model holds anyway.
const contributorIds = new Map<string, Map<string, string>>();

function contributorId(datanetId: string, contributor: string): string {
  let byContributor = contributorIds.get(datanetId);
  if (!byContributor) contributorIds.set(datanetId, (byContributor = new Map()));
  let id = byContributor.get(contributor);
  if (id === undefined) byContributor.set(contributor, (id = `${datanetId}/${contributor}`));
  return id;
}

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
    { name: 'ingest_contributions', indexes: ['contributor', 'datanetId'], sorted: { contributor: CONTRIBUTION_ORDER, datanetId: CONTRIBUTION_ORDER } },
    { name: 'ingest_contributors', indexes: ['datanetId'], sorted: { datanetId: LEADERBOARD_ORDER } },
  ],
  route(e) {
    if (e.type === 'DatanetCreated' || e.type === 'DatanetVersionPublished' || e.type === 'ContributionReviewed') return [];
    const { contributionId, contributor, datanetId } = e.data;
    return [
      { collection: 'ingest_contributions', id: contributionId },
      { collection: 'ingest_contributors', id: contributorId(ALL, contributor) },
      { collection: 'ingest_contributors', id: contributorId(datanetId, contributor) },
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
          return c && withStatus(c, 'ACCEPTED', c.reason);
        case 'ContributionRejected':
          if (c) return withStatus(c, 'REJECTED', e.data.reason);
          return newContribution(e, 'REJECTED', e.data.reason, e.data.duplicateOf);
      }
    }
    const base = doc as ContributorDoc | undefined;
    const datanetId = base ? base.datanetId : ref.id.slice(0, ref.id.indexOf('/'));
    switch (e.type) {
      case 'ContributionSubmitted':
        return counters(base, e.data.contributor, datanetId, 1, 0, 0, 1, 0);
      case 'ContributionAccepted':
        return counters(base, e.data.contributor, datanetId, 0, 1, 0, -1, e.data.sizeBytes);
      case 'ContributionRejected':
        return e.data.reason === 'REVIEW_DECLINED'
          ? counters(base, e.data.contributor, datanetId, 0, 0, 1, -1, 0)
          : counters(base, e.data.contributor, datanetId, 1, 0, 1, 0, 0);
    }
  },
};

/**
 * A contributor's counters moved by the given amounts (from zero for a new document). Written
 * out field by field rather than spread: every document then has one shape, which keeps the
 * hot path monomorphic.
 */
function counters(
  base: ContributorDoc | undefined,
  contributor: string,
  datanetId: string,
  submitted: number,
  accepted: number,
  rejected: number,
  pendingReview: number,
  acceptedBytes: number,
): ContributorDoc {
  return {
    contributor: base ? base.contributor : contributor,
    datanetId,
    submitted: (base ? base.submitted : 0) + submitted,
    accepted: (base ? base.accepted : 0) + accepted,
    rejected: (base ? base.rejected : 0) + rejected,
    pendingReview: (base ? base.pendingReview : 0) + pendingReview,
    acceptedBytes: (base ? base.acceptedBytes : 0) + acceptedBytes,
  };
}

/** The contribution with a new status (and reason), every other field as it was. */
function withStatus(c: ContributionDoc, status: ContributionDoc['status'], reason: string): ContributionDoc {
  return {
    contributionId: c.contributionId,
    datanetId: c.datanetId,
    contributor: c.contributor,
    contentHash: c.contentHash,
    sizeBytes: c.sizeBytes,
    status,
    reason,
    duplicateOf: c.duplicateOf,
    submittedAt: c.submittedAt,
    seq: c.seq,
  };
}

export const allDatanets = ALL;
