import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import type { CreateDatanetInput } from '../../application/create-datanet.handler.js';
import type { SubmissionResult, SubmitContributionInput } from '../../application/submit-contribution.handler.js';
import type { ContributorStats } from '../../application/ingest.queries.js';
import type { DatanetDoc, VersionDoc } from '../../projections/ingest-catalog.projection.js';
import type { ContributionDoc } from '../../projections/ingest-contributions.projection.js';

const EMPTY = new Uint8Array(0);

export function createDatanetInput(r: api.CreateDatanetRequest): CreateDatanetInput {
  return {
    datanetId: r.datanetId,
    name: r.name,
    description: r.description,
    tags: r.tags ?? [],
    dataKind: r.dataKind,
    jsonSchema: r.jsonSchema,
    license: r.license,
    owner: r.owner,
    policy: r.policy && { ...r.policy, validators: r.policy.validators ?? [] },
  };
}

export function submitInput(r: api.SubmitContributionRequest): SubmitContributionInput {
  return { datanetId: r.datanetId, content: r.content ?? EMPTY, contributor: r.contributor, nonce: String(r.nonce ?? '0'), signature: r.signature ?? EMPTY };
}

export function submissionResponse(r: SubmissionResult): api.SubmitContributionResponse {
  return { contributionId: r.contributionId, status: r.status, reason: r.reason, detail: r.detail, duplicateOf: r.duplicateOf, contentHash: r.contentHash };
}

export function datanet(d: DatanetDoc): api.Datanet {
  return { ...d, policy: { ...d.policy }, createdAt: new Date(d.createdAt).toISOString() };
}

export function contribution(c: ContributionDoc): api.Contribution {
  return {
    contributionId: c.contributionId,
    datanetId: c.datanetId,
    contributor: c.contributor,
    contentHash: c.contentHash,
    sizeBytes: c.sizeBytes,
    status: c.status,
    reason: c.reason,
    duplicateOf: c.duplicateOf,
    submittedAt: new Date(c.submittedAt).toISOString(),
  };
}

export function contributorStats(s: ContributorStats): api.ContributorStats {
  return {
    contributor: s.contributor,
    submitted: s.submitted,
    accepted: s.accepted,
    rejected: s.rejected,
    pendingReview: s.pendingReview,
    acceptanceRatePpm: s.acceptanceRatePpm,
    acceptedBytes: String(s.acceptedBytes),
  };
}

export function leaderboardEntry(s: ContributorStats): api.LeaderboardEntry {
  return { contributor: s.contributor, accepted: s.accepted, acceptedBytes: String(s.acceptedBytes), acceptanceRatePpm: s.acceptanceRatePpm };
}

export function manifest(v: VersionDoc, entries: api.VersionEntry[]): api.VersionManifest {
  return {
    datanetId: v.datanetId,
    version: v.version,
    entries,
    merkleRoot: v.merkleRoot,
    totalBytes: v.totalBytes,
    publishedAt: new Date(v.publishedAt).toISOString(),
    contributions: v.contributions,
  };
}
