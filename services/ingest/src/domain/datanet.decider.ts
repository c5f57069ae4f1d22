import type { ContributionPolicy, DatanetCreated, IngestEvent, ManifestEntry, RejectionReason } from './ingest.events.js';
import { quotaKey, type DatanetState } from './datanet.state.js';
import { IngestError } from './ingest.errors.js';
import { signatureToBytes } from './near-duplicate.js';

/** What DatanetCreated records, with the policy's defaults already filled in. */
export type CreateDatanet = Omit<DatanetCreated['data'], 'policy'> & { policy: ContributionPolicy };

/** A contribution whose signature has been checked and whose content has been examined. */
export type SubmitContribution = {
  contributionId: string;
  contributor: string;
  nonce: bigint;
  signature: Uint8Array;
  contentHash: string;
  sizeBytes: number;
  /** Result of the content checks that need no state (UTF-8, JSON Schema); undefined when fine. */
  contentProblem: { reason: 'INVALID_UTF8' | 'SCHEMA_MISMATCH'; detail: string } | undefined;
  /** MinHash of the content; undefined when the content was not examined (too large, invalid). */
  minhash: Uint32Array | undefined;
};

export type SubmissionOutcome = {
  contributionId: string;
  status: 'ACCEPTED' | 'PENDING_REVIEW' | 'REJECTED';
  reason: RejectionReason | 'NONCE_REPLAYED' | '';
  detail: string;
  duplicateOf: string;
};

const MAX_ITEM_BYTES = 16 * 1024 * 1024;

export function decideCreate(state: DatanetState, cmd: CreateDatanet): IngestEvent[] {
  if (state.created) {
    throw new IngestError('DATANET_EXISTS', `datanet_id: Datanet ${cmd.datanetId} already exists`);
  }
  const p = cmd.policy;
  if (p.maxItemBytes < 1 || p.maxItemBytes > MAX_ITEM_BYTES) {
    throw new IngestError('INVALID_FIELD', `policy.max_item_bytes: must be between 1 and ${MAX_ITEM_BYTES}`);
  }
  if (p.nearDuplicatePpm > 1_000_000) {
    throw new IngestError('INVALID_FIELD', 'policy.near_duplicate_ppm: must be at most 1000000');
  }
  if (p.reviewRequired && p.validators.length === 0) {
    throw new IngestError('INVALID_FIELD', 'policy.validators: review is required but no validator is registered');
  }
  return [{ type: 'DatanetCreated', data: { ...cmd, policy: p } }];
}

export function decideSubmit(state: DatanetState, cmd: SubmitContribution, now: number): { events: IngestEvent[]; outcome: SubmissionOutcome } {
  if (!state.created) throw new IngestError('DATANET_NOT_FOUND', "datanet_id: no such Datanet");
  const id = cmd.contributionId;
  const prior = state.contributions.get(id);
  if (prior) {
    // The nonce again: a replay, and nothing is recorded. A client that sent the same content again
    // (a retry after its first answer was lost) learns what became of the first.
    const what = prior.contentHash === cmd.contentHash ? `for this same content: contribution ${id} is ${prior.status}` : `for other content (contribution ${id})`;
    return { events: [], outcome: { contributionId: id, status: 'REJECTED', reason: 'NONCE_REPLAYED', detail: `nonce ${cmd.nonce} was already used by ${cmd.contributor} ${what}`, duplicateOf: '' } };
  }
  const reject = (reason: RejectionReason, detail: string, duplicateOf = '') => ({
    events: [
      {
        type: 'ContributionRejected' as const,
        data: { datanetId: state.datanetId, contributionId: id, contributor: cmd.contributor, reason, detail, duplicateOf, contentHash: cmd.contentHash, sizeBytes: cmd.sizeBytes, nonce: cmd.nonce },
      },
    ],
    outcome: { contributionId: id, status: 'REJECTED' as const, reason, detail, duplicateOf },
  });
  const p = state.policy;
  if (cmd.sizeBytes > p.maxItemBytes) return reject('TOO_LARGE', `${cmd.sizeBytes} bytes exceeds the limit of ${p.maxItemBytes}`);
  if (cmd.sizeBytes === 0) return reject('INVALID_UTF8', 'content is empty');
  if (cmd.contentProblem) return reject(cmd.contentProblem.reason, cmd.contentProblem.detail);
  const same = state.byHash.get(cmd.contentHash);
  if (same) return reject('DUPLICATE', `same content as ${same}`, same);
  if (cmd.minhash && p.nearDuplicatePpm > 0) {
    const near = state.nearDuplicates.findNear(cmd.minhash, p.nearDuplicatePpm);
    if (near) return reject('NEAR_DUPLICATE', `estimated similarity ${(near.similarityPpm / 10_000).toFixed(1)}% to ${near.id}`, near.id);
  }
  if (p.dailyQuota > 0 && (state.quota.get(quotaKey(cmd.contributor, now)) ?? 0) >= p.dailyQuota) {
    return reject('QUOTA_EXCEEDED', `daily quota of ${p.dailyQuota} contributions reached`);
  }
  const submitted: IngestEvent = {
    type: 'ContributionSubmitted',
    data: {
      datanetId: state.datanetId,
      contributionId: id,
      contributor: cmd.contributor,
      contentHash: cmd.contentHash,
      sizeBytes: cmd.sizeBytes,
      nonce: cmd.nonce,
      signature: cmd.signature,
      minhash: cmd.minhash ? signatureToBytes(cmd.minhash) : new Uint8Array(0),
    },
  };
  if (p.reviewRequired) {
    return { events: [submitted], outcome: { contributionId: id, status: 'PENDING_REVIEW', reason: '', detail: '', duplicateOf: '' } };
  }
  const accepted: IngestEvent = {
    type: 'ContributionAccepted',
    data: { datanetId: state.datanetId, contributionId: id, contributor: cmd.contributor, contentHash: cmd.contentHash, sizeBytes: cmd.sizeBytes },
  };
  return { events: [submitted, accepted], outcome: { contributionId: id, status: 'ACCEPTED', reason: '', detail: '', duplicateOf: '' } };
}

export type ReviewContribution = {
  contributionId: string;
  /** The validator whose signature over the review was verified. */
  validator: string;
  approve: boolean;
  comment: string;
  signature: Uint8Array;
};

export function decideReview(state: DatanetState, cmd: ReviewContribution): IngestEvent[] {
  if (!state.created) throw new IngestError('DATANET_NOT_FOUND', "datanet_id: no such Datanet");
  if (!state.policy.validators.includes(cmd.validator)) {
    throw new IngestError('NOT_A_VALIDATOR', `validator: ${cmd.validator} is not a registered validator of ${state.datanetId}`);
  }
  const c = state.contributions.get(cmd.contributionId);
  if (!c) throw new IngestError('CONTRIBUTION_NOT_FOUND', `contribution_id: no contribution ${cmd.contributionId} in ${state.datanetId}`);
  if (c.status !== 'PENDING_REVIEW') {
    throw new IngestError('NOT_PENDING_REVIEW', `contribution_id: ${cmd.contributionId} is ${c.status}, not pending review`);
  }
  const base = { datanetId: state.datanetId, contributionId: cmd.contributionId };
  const reviewed: IngestEvent = {
    type: 'ContributionReviewed',
    data: { ...base, validator: cmd.validator, approved: cmd.approve, comment: cmd.comment, signature: cmd.signature },
  };
  if (cmd.approve) {
    return [reviewed, { type: 'ContributionAccepted', data: { ...base, contributor: c.contributor, contentHash: c.contentHash, sizeBytes: c.sizeBytes } }];
  }
  return [
    reviewed,
    {
      type: 'ContributionRejected',
      data: { ...base, contributor: c.contributor, reason: 'REVIEW_DECLINED', detail: cmd.comment || `declined by ${cmd.validator}`, duplicateOf: '', contentHash: c.contentHash, sizeBytes: c.sizeBytes, nonce: 0n },
    },
  ];
}

/**
 * New entries one version lists at most: about 46 MB of them in its event, under the 63 MiB the
 * event log takes in one record (MAX_PAYLOAD_BYTES).
 */
export const MAX_VERSION_ENTRIES = 250_000;

/**
 * Freezes the accepted set, up to its first `upTo` contributions, into the next version; `merkleRoot`
 * computes the manifest's root. The event lists only the contributions accepted since the last
 * version, after the ones it carries: the log grows with the contributions, not with versions times
 * contributions. A version adds at most `maxEntries`; the rest goes to the versions after it.
 */
export function decidePublish(
  state: DatanetState,
  merkleRoot: (entries: readonly ManifestEntry[]) => string,
  { upTo = state.accepted.length, maxEntries = MAX_VERSION_ENTRIES }: { upTo?: number; maxEntries?: number } = {},
): IngestEvent[] {
  if (!state.created) throw new IngestError('DATANET_NOT_FOUND', "datanet_id: no such Datanet");
  const carried = state.acceptedAtLastVersion;
  const end = Math.min(upTo, state.accepted.length, carried + maxEntries);
  if (end <= carried) {
    throw new IngestError('NOTHING_TO_PUBLISH', `datanet_id: ${state.datanetId} has no accepted contributions since version ${state.version}`);
  }
  const manifest = end === state.accepted.length ? state.accepted : state.accepted.slice(0, end);
  let totalBytes = state.acceptedBytes;
  for (let i = end; i < state.accepted.length; i++) totalBytes -= BigInt(state.acceptedSizes[i]!);
  return [
    {
      type: 'DatanetVersionPublished',
      data: { datanetId: state.datanetId, version: state.version + 1, carried, entries: state.accepted.slice(carried, end), merkleRoot: merkleRoot(manifest), totalBytes },
    },
  ];
}
