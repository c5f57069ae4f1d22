import { TypedEventCodec, type Doc, type DomainEvent, type Projection } from '@opal/event-sourcing';

/** The one ingest event inference reads: a published version's manifest (which content is in it). */
type VersionPublished = DomainEvent<
  'DatanetVersionPublished',
  { datanetId: string; version: number; entries: { contributionId: string; contentHash: string; contributor: string }[] }
>;

export type DatanetVersionDoc = {
  id: string;
  entries: { contributionId: string; contentHash: string; contributor: string }[];
};

const codec = new TypedEventCodec<VersionPublished>('opal.ingest.v1', ['DatanetVersionPublished']);

/** Published Datanet versions, so the infini-gram engine can build a version's index from its content. */
export const datanetVersionsProjection: Projection<VersionPublished> = {
  name: 'inference.datanet_versions',
  codec,
  collections: [{ name: 'inference_datanet_versions', indexes: [] }],
  route: (e) => [{ collection: 'inference_datanet_versions', id: `${e.data.datanetId}@${e.data.version}` }],
  evolve: (ref, _doc, e): Doc =>
    ({ id: ref.id, entries: e.data.entries.map((x) => ({ contributionId: x.contributionId, contentHash: x.contentHash, contributor: x.contributor })) }) satisfies DatanetVersionDoc,
};
