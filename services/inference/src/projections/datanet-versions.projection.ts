import { PagedList, TypedEventCodec, type Doc, type DocumentStore, type DomainEvent, type Projection } from '@opal/event-sourcing';

/**
 * The one ingest event inference reads: a published version's manifest (which content is in it),
 * the first `carried` entries of the previous version's followed by `entries`.
 */
type VersionPublished = DomainEvent<
  'DatanetVersionPublished',
  { datanetId: string; version: number; carried: number; entries: { contributionId: string; contentHash: string; contributor: string }[] }
>;

export type ManifestEntry = { contributionId: string; contentHash: string; contributor: string };

/**
 * A published version: its manifest has `contributions` entries, the first `carried` of them the
 * previous version's, the rest in `pages` documents of `versionPages` under its id.
 */
export type DatanetVersionDoc = { id: string; contributions: number; carried: number; pages: number };

/**
 * Manifests in pages: a large version in one document would pass MongoDB's 16 MiB limit. Each
 * version keeps only the entries its event lists.
 */
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
    if (ref.collection === 'inference_datanet_versions') {
      return { id: ref.id, contributions: e.data.carried + entries.length, carried: e.data.carried, pages: versionPages.pages(entries.length) } satisfies DatanetVersionDoc;
    }
    return versionPages.page(ref, entries, (x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor }));
  },
};

/**
 * The manifest of `datanetId@version` in order, each entry read from the version that listed it;
 * undefined while that version, an earlier one it carries entries of, or one of their pages is not
 * in the read model yet.
 */
/** The read model's document of the Datanet version `<datanet_id>@<version>`; undefined while it is not published (or not applied yet). */
export async function publishedVersion(store: DocumentStore, datanetVersion: string): Promise<DatanetVersionDoc | undefined> {
  return (await store.get('inference_datanet_versions', datanetVersion)) as DatanetVersionDoc | undefined;
}

export async function readVersionManifest(store: DocumentStore, datanetVersion: string): Promise<ManifestEntry[] | undefined> {
  const doc = await publishedVersion(store, datanetVersion);
  if (!doc) return undefined;
  const at = datanetVersion.lastIndexOf('@');
  const datanetId = datanetVersion.slice(0, at);
  const versions = { collection: 'inference_datanet_versions', id: (k: number) => `${datanetId}@${k}`, span: (d: Doc) => ({ start: (d as DatanetVersionDoc).carried ?? 0, end: (d as DatanetVersionDoc).contributions }) };
  return versionPages.readVersion(store, versions, Number(datanetVersion.slice(at + 1)), 0, doc.contributions);
}
