import { Inject, Injectable } from '@nestjs/common';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { ProjectionHost } from '@opal/service-runtime';
import { IngestError } from '../domain/ingest.errors.js';
import { DATANET_ORDER, readManifest, versionId, type DatanetDoc, type ManifestEntryDoc, type VersionDoc } from '../projections/ingest-catalog.projection.js';
import { allDatanets, CONTRIBUTION_ORDER, LEADERBOARD_ORDER, type ContributionDoc, type ContributorDoc } from '../projections/ingest-contributions.projection.js';
import { CONTENT_STORE, type ContentStore } from './ingest.ports.js';
import { normalizeAddress } from './create-datanet.handler.js';
import { pageTokens } from './page-token.js';

export type ContributorStats = ContributorDoc & { acceptanceRatePpm: number };

/** Manifest entries per GetVersionManifest response by default, and at most (about 3 MiB, under gRPC's 4 MiB). */
export const MANIFEST_DEFAULT_LIMIT = 10_000;
export const MANIFEST_MAX_LIMIT = 20_000;

/** Datanets per ListDatanets response by default, and at most. */
export const DATANETS_DEFAULT_LIMIT = 100;
export const DATANETS_MAX_LIMIT = 1000;

export function acceptanceRatePpm(c: { accepted: number; rejected: number }): number {
  const decided = c.accepted + c.rejected;
  return decided === 0 ? 0 : Math.floor((c.accepted * 1_000_000) / decided);
}

/**
 * Read side of ingest: answers from the projections, never from the write model. What it does not
 * find, it looks for again once ingest's read models have caught up with the log (at most
 * CATCH_UP_WAIT_MS), so a Datanet, contribution or version written a moment ago is found.
 */
@Injectable()
export class IngestQueries {
  constructor(
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(CONTENT_STORE) private readonly content: ContentStore,
    @Inject(ProjectionHost) private readonly readModels: Pick<ProjectionHost, 'readCaughtUp'>,
  ) {}

  private fresh<T>(read: () => Promise<T | undefined>): Promise<T | undefined> {
    return this.readModels.readCaughtUp('ingest', read);
  }

  async datanet(datanetId: string): Promise<DatanetDoc> {
    if (!datanetId) throw new IngestError('INVALID_FIELD', 'datanet_id: required');
    const d = await this.fresh(() => this.store.get('ingest_datanets', datanetId));
    if (!d) throw new IngestError('DATANET_NOT_FOUND', `datanet_id: no Datanet ${datanetId}`);
    return d as DatanetDoc;
  }

  /** A page of the Datanets in id order, those with `tag` when given, and how many there are. */
  async datanets(q: { tag: string; limit: number; offset: number }): Promise<{ items: DatanetDoc[]; total: number }> {
    const r = await this.store.find('ingest_datanets', {
      where: q.tag.trim() ? { tags: q.tag.trim().toLowerCase() } : {},
      sort: DATANET_ORDER,
      limit: Math.min(q.limit || DATANETS_DEFAULT_LIMIT, DATANETS_MAX_LIMIT),
      offset: q.offset,
    });
    return { items: r.items as DatanetDoc[], total: r.total };
  }

  async contribution(contributionId: string): Promise<ContributionDoc> {
    if (!/^0x[0-9a-f]{64}$/.test(contributionId)) throw new IngestError('INVALID_FIELD', `contribution_id: must be 0x and 64 hex digits, got ${JSON.stringify(contributionId)}`);
    const c = await this.fresh(() => this.store.get('ingest_contributions', contributionId));
    if (!c) throw new IngestError('CONTRIBUTION_NOT_FOUND', `contribution_id: no contribution ${contributionId}`);
    return c as ContributionDoc;
  }

  async contentOf(contentHash: string): Promise<Uint8Array> {
    if (!/^0x[0-9a-f]{64}$/.test(contentHash)) throw new IngestError('INVALID_FIELD', 'content_hash: must be 0x and 64 hex digits');
    const bytes = await this.content.get(contentHash);
    if (!bytes) throw new IngestError('CONTENT_NOT_FOUND', `content_hash: no content ${contentHash}`);
    return bytes;
  }

  /**
   * A page of contributions in CONTRIBUTION_ORDER, from `offset` or from after where the page of
   * `pageToken` ended, with the total and the token of the next page ('' on the last).
   */
  async contributions(q: { contributor: string; datanetId: string; limit: number; offset: number; pageToken: string }): Promise<{ items: ContributionDoc[]; total: number; nextPageToken: string }> {
    const where: Record<string, string> = {};
    if (q.contributor) where['contributor'] = normalizeAddress('contributor', q.contributor);
    if (q.datanetId) where['datanetId'] = q.datanetId;
    if (!q.contributor && !q.datanetId) throw new IngestError('INVALID_FIELD', 'contributor: give a contributor or a datanet_id');
    const list = `${where['contributor'] ?? ''}/${q.datanetId}`;
    const after = q.pageToken ? pageTokens.read(q.pageToken, list) : undefined;
    if (after && q.offset) throw new IngestError('INVALID_FIELD', 'offset: must be 0 with a page_token');
    // An unknown Datanet is NOT_FOUND, as for GetDatanet, not an empty list.
    const datanet = q.datanetId ? await this.datanet(q.datanetId) : undefined;
    const limit = Math.min(q.limit || 100, 1000);
    // One more than the page: whether there is a next one.
    const [page, total] = await Promise.all([
      this.store.list('ingest_contributions', { where, sort: CONTRIBUTION_ORDER, limit: limit + 1, ...(after ? { after } : { offset: q.offset }) }),
      this.contributionCount(where['contributor'], datanet),
    ]);
    const items = (page as ContributionDoc[]).slice(0, limit);
    const last = items.at(-1);
    const nextPageToken = page.length > limit && last ? pageTokens.write(list, { keys: CONTRIBUTION_ORDER.map((k) => last[k.field as keyof ContributionDoc] as string | number), id: last.contributionId }) : '';
    return { items, total, nextPageToken };
  }

  /**
   * How many contributions a contributor made (to one Datanet, or to all), or a Datanet holds, from
   * the read models' counters, which count each contribution once: by its contributor's
   * `submitted`, and in one of its Datanet's statuses. Counting the list itself would read each of
   * its documents on FerretDB (2.8 s for a Datanet of 40,000), or each of its index keys on MongoDB,
   * for every page.
   */
  private async contributionCount(contributor: string | undefined, datanet: DatanetDoc | undefined): Promise<number> {
    if (contributor === undefined) return datanet ? datanet.accepted + datanet.rejected + datanet.pendingReview : 0;
    const counters = (await this.store.get('ingest_contributors', `${datanet?.datanetId ?? allDatanets}/${contributor}`)) as ContributorDoc | undefined;
    return counters?.submitted ?? 0;
  }

  async contributorStats(contributor: string): Promise<ContributorStats> {
    const address = normalizeAddress('contributor', contributor);
    const doc = ((await this.store.get('ingest_contributors', `${allDatanets}/${address}`)) as ContributorDoc | undefined) ?? {
      contributor: address,
      datanetId: allDatanets,
      submitted: 0,
      accepted: 0,
      rejected: 0,
      pendingReview: 0,
      acceptedBytes: 0,
    };
    return { ...doc, acceptanceRatePpm: acceptanceRatePpm(doc) };
  }

  async version(datanetId: string, version: number): Promise<VersionDoc> {
    if (!datanetId) throw new IngestError('INVALID_FIELD', 'datanet_id: required');
    // Version 0 is the latest, as the Datanet's document says; a version published a moment ago
    // may be in neither yet.
    let asked = version;
    const v = await this.fresh(async () => {
      asked = version || (await this.datanet(datanetId)).latestVersion;
      return asked === 0 ? undefined : this.store.get('ingest_versions', versionId(datanetId, asked));
    });
    if (!v) throw new IngestError('VERSION_NOT_FOUND', asked === 0 ? `version: Datanet ${datanetId} has no version yet` : `version: Datanet ${datanetId} has no version ${asked}`);
    return v as VersionDoc;
  }

  /** A version and its manifest entries [offset, offset + limit), read from the pages that hold them. */
  async manifest(q: { datanetId: string; version: number; limit: number; offset: number }): Promise<{ version: VersionDoc; entries: ManifestEntryDoc[] }> {
    const limit = Math.min(q.limit || MANIFEST_DEFAULT_LIMIT, MANIFEST_MAX_LIMIT);
    // A scaled-out store writes a version and its pages as separate documents: a reader can get
    // between them, and then reads them again once the read models have caught up.
    let torn: VersionDoc | undefined;
    const read = async () => {
      const version = await this.version(q.datanetId, q.version);
      const from = Math.min(q.offset, version.contributions);
      const entries = await readManifest(this.store, version, from, Math.min(from + limit, version.contributions));
      torn = entries ? undefined : version;
      return entries && { version, entries };
    };
    const got = await this.fresh(read);
    if (got) return got;
    throw new IngestError('VERSION_INCOMPLETE', `version: the manifest of Datanet ${torn!.datanetId} version ${torn!.version} is still being written; try again`);
  }

  async leaderboard(datanetId: string, limit: number): Promise<ContributorStats[]> {
    if (datanetId) await this.datanet(datanetId);
    const items = await this.store.list('ingest_contributors', {
      where: { datanetId: datanetId || allDatanets },
      sort: LEADERBOARD_ORDER,
      limit: Math.min(limit || 10, 1000),
    });
    return (items as ContributorDoc[]).map((c) => ({ ...c, acceptanceRatePpm: acceptanceRatePpm(c) }));
  }
}
