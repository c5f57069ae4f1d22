import { PagedList, type Doc, type DocumentStore, type Projection } from '@opal/event-sourcing';
import type { DatanetVersionPublished } from '../domain/upstream.events.js';
import { versionPublishedCodec } from '../application/attribution.codecs.js';

/** A version: `contributions` entries, the first `carried` of them the previous version's. */
export type PublishedVersionDoc = { datanetId: string; version: number; contributions: number; carried: number; totalBytes: string };

export type ManifestEntry = { contributionId: string; contentHash: string; contributor: string };

/**
 * Each version's manifest, in pages: a replica of this service that did not build a version's index
 * builds its own copy from it (see LocalIndexes). A version keeps only the entries its event lists.
 */
export const versionManifests = new PagedList<ManifestEntry>('attribution_version_pages', 4096);

/**
 * Datanet versions published by ingest, as attribution sees them: a version listed here without
 * an index in attribution_indexes is still being built.
 */
export const versionsProjection: Projection<DatanetVersionPublished> = {
  name: 'attribution.versions',
  codec: versionPublishedCodec,
  collections: [
    { name: 'attribution_versions', indexes: ['datanetId'] },
    { name: versionManifests.collection, indexes: [] },
  ],
  route: (e) => {
    const id = `${e.data.datanetId}@${e.data.version}`;
    return [{ collection: 'attribution_versions', id }, ...versionManifests.refs(id, e.data.entries.length)];
  },
  evolve: (ref, _doc, e): Doc => {
    if (ref.collection === 'attribution_versions') {
      const { datanetId, version, carried, entries, totalBytes } = e.data;
      return { datanetId, version, contributions: carried + entries.length, carried, totalBytes: totalBytes.toString() } satisfies PublishedVersionDoc;
    }
    return versionManifests.page(ref, e.data.entries, (x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor }));
  },
};

/**
 * The whole manifest of the version `version` describes, each entry read from the version that
 * listed it; undefined while an earlier version it carries entries of, or a page, is not written.
 */
export async function readVersionManifest(store: DocumentStore, version: PublishedVersionDoc): Promise<ManifestEntry[] | undefined> {
  const versions = { collection: 'attribution_versions', id: (k: number) => `${version.datanetId}@${k}`, span: (d: Doc) => ({ start: (d as PublishedVersionDoc).carried ?? 0, end: (d as PublishedVersionDoc).contributions }) };
  return versionManifests.readVersion(store, versions, version.version, 0, version.contributions);
}
