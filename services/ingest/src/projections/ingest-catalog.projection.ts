import { PagedList, type Doc, type DocumentStore, type Projection, type SortKey } from '@opal/event-sourcing';
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

/**
 * A published version. Its manifest has `contributions` entries: the first `carried` are the
 * previous version's, the rest are in `pages` documents of `manifestPages` under this version's id
 * (see readManifest).
 */
export type VersionDoc = {
  datanetId: string;
  version: number;
  contributions: number;
  carried: number;
  pages: number;
  merkleRoot: string;
  totalBytes: string;
  publishedAt: number;
};

/**
 * Version manifests in pages of 4,096 entries (under 1 MiB): a version of a large Datanet adds
 * hundreds of thousands, which in one document would pass MongoDB's 16 MiB limit (at about 90,000).
 * Each version keeps only the entries its event lists; earlier ones are read from earlier versions.
 */
export const manifestPages = new PagedList<ManifestEntryDoc>('ingest_version_pages', 4096);

export const versionId = (datanetId: string, version: number) => `${datanetId}@${version}`;

/**
 * Entries [from, to) of a version's manifest, each read from the version that listed it;
 * undefined while a page or an earlier version is not yet written (a store without transactions
 * writes them one by one). Versions stored before `carried` hold their whole manifest.
 */
export async function readManifest(store: DocumentStore, v: VersionDoc, from: number, to: number): Promise<ManifestEntryDoc[] | undefined> {
  const versions = { collection: 'ingest_versions', id: (k: number) => versionId(v.datanetId, k), span: (d: Doc) => ({ start: (d as VersionDoc).carried ?? 0, end: (d as VersionDoc).contributions }) };
  return manifestPages.readVersion(store, versions, v.version, from, to);
}

/** ListDatanets' order, with or without a tag. */
export const DATANET_ORDER: readonly SortKey[] = [{ field: 'datanetId', order: 'asc' }];

/** Datanets with their counters, and every published version with its manifest in pages. */
export const ingestCatalogProjection: Projection<IngestEvent> = {
  name: 'ingest.catalog',
  codec: ingestCodec,
  collections: [
    { name: 'ingest_datanets', indexes: ['tags'], sorted: { tags: DATANET_ORDER } },
    { name: 'ingest_versions', indexes: ['datanetId'] },
    { name: manifestPages.collection, indexes: [] },
  ],
  route(e) {
    if (e.type === 'DatanetVersionPublished') {
      const id = versionId(e.data.datanetId, e.data.version);
      return [{ collection: 'ingest_datanets', id: e.data.datanetId }, { collection: 'ingest_versions', id }, ...manifestPages.refs(id, e.data.entries.length)];
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
          contributions: e.data.carried + e.data.entries.length,
        carried: e.data.carried,
        pages: manifestPages.pages(e.data.entries.length),
        merkleRoot: e.data.merkleRoot,
        totalBytes: e.data.totalBytes.toString(),
        publishedAt: e.meta.occurredAt,
      };
      return v;
    }
    if (ref.collection === manifestPages.collection) {
      if (e.type !== 'DatanetVersionPublished') return undefined;
      return manifestPages.page(ref, e.data.entries, (x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor }));
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
