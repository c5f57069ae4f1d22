import { PagedList, TypedEventCodec, type Doc, type DomainEvent, type Projection } from '@opal/event-sourcing';

/** The one ingest event inference reads: a published version's manifest (which content is in it). */
type VersionPublished = DomainEvent<
  'DatanetVersionPublished',
  { datanetId: string; version: number; entries: { contributionId: string; contentHash: string; contributor: string }[] }
>;

export type ManifestEntry = { contributionId: string; contentHash: string; contributor: string };

/** A published version: its manifest is `pages` documents of `versionPages`. */
export type DatanetVersionDoc = { id: string; contributions: number; pages: number };

/** Manifests in pages: a large version in one document would pass MongoDB's 16 MiB limit. */
export const versionPages = new PagedList<ManifestEntry>('inference_datanet_version_pages', 4096);

const codec = new TypedEventCodec<VersionPublished>('opal.ingest.v1', ['DatanetVersionPublished']);

/** Published Datanet versions, so the infini-gram engine can build a version's index from its content. */
export const datanetVersionsProjection: Projection<VersionPublished> = {
  name: 'inference.datanet_versions',
  codec,
  collections: [
    { name: 'inference_datanet_versions', indexes: [] },
    { name: versionPages.collection, indexes: [] },
  ],
  route: (e) => {
    const id = `${e.data.datanetId}@${e.data.version}`;
    return [{ collection: 'inference_datanet_versions', id }, ...versionPages.refs(id, e.data.entries.length)];
  },
  evolve: (ref, _doc, e): Doc => {
    const entries = e.data.entries;
    if (ref.collection === 'inference_datanet_versions') return { id: ref.id, contributions: entries.length, pages: versionPages.pages(entries.length) } satisfies DatanetVersionDoc;
    return versionPages.page(ref, entries, (x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor }));
  },
};
