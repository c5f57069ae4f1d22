import type { Doc, Projection } from '@opal/event-sourcing';
import type { DatanetVersionPublished } from '../domain/upstream.events.js';
import { versionPublishedCodec } from '../application/attribution.codecs.js';

export type PublishedVersionDoc = { datanetId: string; version: number; contributions: number };

/**
 * Datanet versions published by ingest, as attribution sees them: a version listed here without
 * an index in attribution_indexes is still being built.
 */
export const versionsProjection: Projection<DatanetVersionPublished> = {
  name: 'attribution.versions',
  codec: versionPublishedCodec,
  collections: [{ name: 'attribution_versions', indexes: ['datanetId'] }],
  route: (e) => [{ collection: 'attribution_versions', id: `${e.data.datanetId}@${e.data.version}` }],
  evolve: (_ref, _doc, e): Doc => ({ datanetId: e.data.datanetId, version: e.data.version, contributions: e.data.entries.length }) satisfies PublishedVersionDoc,
};
