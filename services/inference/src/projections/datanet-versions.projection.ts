import { TypedEventCodec, type Doc, type DocRef, type DomainEvent, type Projection } from '@opal/event-sourcing';

/** The one ingest event inference reads: a published version's manifest (which content is in it). */
type VersionPublished = DomainEvent<
  'DatanetVersionPublished',
  { datanetId: string; version: number; entries: { contributionId: string; contentHash: string; contributor: string }[] }
>;

type Entry = { contributionId: string; contentHash: string; contributor: string };

/** A published version: its manifest is `pages` documents of `inference_datanet_version_pages`. */
export type DatanetVersionDoc = { id: string; contributions: number; pages: number };

/** Entries `page * VERSION_PAGE_ENTRIES` onwards of a version's manifest. */
export type DatanetVersionPageDoc = { id: string; page: number; entries: Entry[] };

/** Entries per page document: a large version in one document would pass MongoDB's 16 MiB limit. */
export const VERSION_PAGE_ENTRIES = 4096;

export const versionPageId = (datanetVersion: string, page: number) => `${datanetVersion}#${page}`;

const codec = new TypedEventCodec<VersionPublished>('opal.ingest.v1', ['DatanetVersionPublished']);

/** Published Datanet versions, so the infini-gram engine can build a version's index from its content. */
export const datanetVersionsProjection: Projection<VersionPublished> = {
  name: 'inference.datanet_versions',
  codec,
  collections: [
    { name: 'inference_datanet_versions', indexes: [] },
    { name: 'inference_datanet_version_pages', indexes: [] },
  ],
  route: (e) => {
    const id = `${e.data.datanetId}@${e.data.version}`;
    const refs: DocRef[] = [{ collection: 'inference_datanet_versions', id }];
    for (let page = 0; page * VERSION_PAGE_ENTRIES < e.data.entries.length; page++) refs.push({ collection: 'inference_datanet_version_pages', id: versionPageId(id, page) });
    return refs;
  },
  evolve: (ref, _doc, e): Doc => {
    const entries = e.data.entries;
    if (ref.collection === 'inference_datanet_versions') {
      return { id: ref.id, contributions: entries.length, pages: Math.ceil(entries.length / VERSION_PAGE_ENTRIES) } satisfies DatanetVersionDoc;
    }
    const page = Number(ref.id.slice(ref.id.lastIndexOf('#') + 1));
    const from = page * VERSION_PAGE_ENTRIES;
    return {
      id: ref.id,
      page,
      entries: entries.slice(from, from + VERSION_PAGE_ENTRIES).map((x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor })),
    } satisfies DatanetVersionPageDoc;
  },
};
