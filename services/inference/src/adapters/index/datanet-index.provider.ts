import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AttributionIndex, buildIndex, type IndexDocument } from '@opal/attribution-index';
import type { DocumentStore } from '@opal/event-sourcing';
import type { ContentStore } from '@opal/content-store';
import { readVersionManifest, type ManifestEntry } from '../../projections/datanet-versions.projection.js';

/** Contents read together from the content store to build a retrieval index. */
const CONTENT_READ_BATCH = 64;

/**
 * The attribution index of a Datanet version for the infini-gram engine. Reuses the attribution
 * service's folder `<data>/indexes/<datanet>@<version>` when it exists; otherwise builds one from the
 * version's manifest (the DatanetVersionPublished read model) and the contribution bytes in the
 * shared content store into `<data>/inference/indexes/`, once.
 */
export class DatanetIndexProvider {
  private readonly open = new Map<string, Promise<AttributionIndex>>();

  constructor(
    private readonly dataDir: string,
    private readonly store: DocumentStore,
    private readonly content: ContentStore,
    private readonly caughtUp: () => Promise<void>,
  ) {}

  get(datanetVersion: string): Promise<AttributionIndex> {
    let p = this.open.get(datanetVersion);
    if (!p) {
      p = this.load(datanetVersion);
      this.open.set(datanetVersion, p);
      p.catch(() => this.open.delete(datanetVersion));
    }
    return p;
  }

  private async load(dv: string): Promise<AttributionIndex> {
    const shared = join(this.dataDir, 'indexes', dv);
    if (existsSync(join(shared, 'manifest.json'))) return AttributionIndex.open(shared);
    const own = join(this.dataDir, 'inference', 'indexes', dv);
    if (!existsSync(join(own, 'manifest.json'))) await this.build(dv, own);
    return AttributionIndex.open(own);
  }

  /** The version's manifest in order, or undefined while it is not all in the read model yet. */
  private manifest(dv: string): Promise<ManifestEntry[] | undefined> {
    return readVersionManifest(this.store, dv);
  }

  private async build(dv: string, dir: string): Promise<void> {
    let entries = await this.manifest(dv);
    if (!entries) {
      await this.caughtUp();
      entries = await this.manifest(dv);
    }
    if (!entries) throw new Error(`Datanet version ${dv} is not published`);
    const documents: IndexDocument[] = [];
    // Read CONTENT_READ_BATCH contents a time: one read each cost a round trip each to MongoDB.
    for (let at = 0; at < entries.length; at += CONTENT_READ_BATCH) {
      const batch = entries.slice(at, at + CONTENT_READ_BATCH);
      const found = await this.content.getMany(batch.map((e) => e.contentHash));
      batch.forEach((e, k) => {
        const bytes = found.get(e.contentHash);
        if (!bytes) throw new Error(`content ${e.contentHash} of ${e.contributionId} is missing from the content store`);
        documents.push({ contributionId: e.contributionId, contributor: e.contributor, orderKey: at + k, text: Buffer.from(bytes).toString('utf8') });
      });
    }
    const tmp = `${dir}.${process.pid}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await buildIndex(documents, { dir: tmp, workers: 0 });
    await rename(tmp, dir);
  }
}
