import type { Doc, Projection } from '@opal/event-sourcing';
import { ingestCodec } from '../application/datanet.repository.js';
import type { ContributionPolicy, IngestEvent } from '../domain/ingest.events.js';

export type DatanetDoc = {
  datanetId: string;
  name: string;
  description: string;
  tags: string[];
  dataKind: string;
  jsonSchema: string;
  license: string;
  owner: string;
  policy: ContributionPolicy;
  accepted: number;
  rejected: number;
  pendingReview: number;
  latestVersion: number;
  createdAt: number;
};

export type ManifestEntryDoc = { contributionId: string; contentHash: string; contributor: string };

/** A published version; its manifest is in `ingest_version_pages`, `pages` documents in order. */
export type VersionDoc = {
  datanetId: string;
  version: number;
  contributions: number;
  pages: number;
  merkleRoot: string;
  totalBytes: string;
  publishedAt: number;
};

/** Entries `page * MANIFEST_PAGE_ENTRIES` onwards of a version's manifest. */
export type VersionPageDoc = { datanetId: string; version: number; page: number; entries: ManifestEntryDoc[] };

/**
 * Manifest entries per page document. A version of a large Datanet holds hundreds of thousands of
 * entries; in one document they would pass MongoDB's 16 MiB limit (at about 90,000). A page of
 * 4,096 is under 1 MiB.
 */
export const MANIFEST_PAGE_ENTRIES = 4096;

export const versionId = (datanetId: string, version: number) => `${datanetId}@${version}`;
export const versionPageId = (datanetId: string, version: number, page: number) => `${datanetId}@${version}#${page}`;

/** Datanets with their counters, and every published version with its manifest in pages. */
export const ingestCatalogProjection: Projection<IngestEvent> = {
  name: 'ingest.catalog',
  codec: ingestCodec,
  collections: [
    { name: 'ingest_datanets', indexes: [] },
    { name: 'ingest_versions', indexes: ['datanetId'] },
    { name: 'ingest_version_pages', indexes: [] },
  ],
  route(e) {
    if (e.type === 'DatanetVersionPublished') {
      const { datanetId, version, entries } = e.data;
      const refs = [
        { collection: 'ingest_datanets', id: datanetId },
        { collection: 'ingest_versions', id: versionId(datanetId, version) },
      ];
      for (let page = 0; page * MANIFEST_PAGE_ENTRIES < entries.length; page++) refs.push({ collection: 'ingest_version_pages', id: versionPageId(datanetId, version, page) });
      return refs;
    }
    if (e.type === 'ContributionReviewed') return [];
    return [{ collection: 'ingest_datanets', id: e.data.datanetId }];
  },
  evolve(ref, doc, e): Doc | undefined {
    if (ref.collection === 'ingest_versions') {
      if (e.type !== 'DatanetVersionPublished') return undefined;
      const v: VersionDoc = {
        datanetId: e.data.datanetId,
        version: e.data.version,
        contributions: e.data.entries.length,
        pages: Math.ceil(e.data.entries.length / MANIFEST_PAGE_ENTRIES),
        merkleRoot: e.data.merkleRoot,
        totalBytes: e.data.totalBytes.toString(),
        publishedAt: e.meta.occurredAt,
      };
      return v;
    }
    if (ref.collection === 'ingest_version_pages') {
      if (e.type !== 'DatanetVersionPublished') return undefined;
      const page = Number(ref.id.slice(ref.id.lastIndexOf('#') + 1));
      const from = page * MANIFEST_PAGE_ENTRIES;
      const p: VersionPageDoc = {
        datanetId: e.data.datanetId,
        version: e.data.version,
        page,
        entries: e.data.entries.slice(from, from + MANIFEST_PAGE_ENTRIES).map((x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor })),
      };
      return p;
    }
    const d = doc as DatanetDoc | undefined;
    switch (e.type) {
      case 'DatanetCreated': {
        const x = e.data;
        const p = x.policy!;
        const created: DatanetDoc = {
          datanetId: x.datanetId,
          name: x.name,
          description: x.description,
          tags: [...x.tags],
          dataKind: x.dataKind,
          jsonSchema: x.jsonSchema,
          license: x.license,
          owner: x.owner,
          policy: { maxItemBytes: p.maxItemBytes, dailyQuota: p.dailyQuota, reviewRequired: p.reviewRequired, nearDuplicatePpm: p.nearDuplicatePpm, validators: [...p.validators] },
          accepted: 0,
          rejected: 0,
          pendingReview: 0,
          latestVersion: 0,
          createdAt: e.meta.occurredAt,
        };
        return created;
      }
      case 'ContributionSubmitted':
        return d && counted(d, 0, 0, 1, d.latestVersion);
      case 'ContributionAccepted':
        return d && counted(d, 1, 0, -1, d.latestVersion);
      case 'ContributionRejected':
        return d && counted(d, 0, 1, e.data.reason === 'REVIEW_DECLINED' ? -1 : 0, d.latestVersion);
      case 'DatanetVersionPublished':
        return d && counted(d, 0, 0, 0, e.data.version);
      case 'ContributionReviewed':
        return undefined;
      default: {
        const exhaustive: never = e;
        return exhaustive;
      }
    }
  },
};

/**
 * The Datanet with its counters moved and its latest version set. Written out field by field
 * rather than spread: every document then has one shape, which keeps the hot path monomorphic.
 */
function counted(d: DatanetDoc, accepted: number, rejected: number, pendingReview: number, latestVersion: number): DatanetDoc {
  return {
    datanetId: d.datanetId,
    name: d.name,
    description: d.description,
    tags: d.tags,
    dataKind: d.dataKind,
    jsonSchema: d.jsonSchema,
    license: d.license,
    owner: d.owner,
    policy: d.policy,
    accepted: d.accepted + accepted,
    rejected: d.rejected + rejected,
    pendingReview: d.pendingReview + pendingReview,
    latestVersion,
    createdAt: d.createdAt,
  };
}
