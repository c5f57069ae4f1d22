import { PagedList, type Doc, type Projection } from '@opal/event-sourcing';
import type { DatanetVersionPublished } from '../domain/upstream.events.js';
import { versionPublishedCodec } from '../application/attribution.codecs.js';

export type PublishedVersionDoc = { datanetId: string; version: number; contributions: number; totalBytes: string };

export type ManifestEntry = { contributionId: string; contentHash: string; contributor: string };

/**
 * Each version's manifest, in pages: a replica of this service that did not build a version's index
 * builds its own copy from it (see IndexCatalog).
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
      return { datanetId: e.data.datanetId, version: e.data.version, contributions: e.data.entries.length, totalBytes: e.data.totalBytes.toString() } satisfies PublishedVersionDoc;
    }
    return versionManifests.page(ref, e.data.entries, (x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor }));
  },
};
