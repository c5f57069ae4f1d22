import { Inject, Injectable } from '@nestjs/common';
import type { AttributionIndex } from '@opal/attribution-index';
import { EVENT_LOG, TransientError, type EventLog } from '@opal/event-log';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { versionKey, type DatanetVersionRef } from '../domain/datanet-version.js';
import { readVersionManifest, type PublishedVersionDoc } from '../projections/versions.projection.js';
import { CONTRIBUTION_CONTENT, INDEX_FILES, type ContributionContent, type IndexFiles } from './attribution.ports.js';
import { buildingTransient, buildWorkers, manifestDocuments } from './manifest-documents.js';
import { versionFromLog } from './version-manifest.js';

/**
 * The indexes on this machine. Scaled out, one replica of the service builds a version's index and
 * announces it; every other replica that needs it builds its own copy, once, from the manifest its
 * versions read model keeps (or, where that lacks the version, its Datanet's stream in the log) and
 * the content store. A build is deterministic, so the copy must hash to the index hash in the log,
 * and is refused otherwise.
 */
@Injectable()
export class LocalIndexes {
  private readonly copying = new Map<string, Promise<void>>();

  constructor(
    @Inject(INDEX_FILES) private readonly files: IndexFiles,
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(CONTRIBUTION_CONTENT) private readonly content: ContributionContent,
    @Inject(EVENT_LOG) private readonly log: Pick<EventLog, 'readStream'>,
  ) {}

  /** The version's index with hash `indexHash`, opened; built here first if this machine lacks it. */
  async open(ref: DatanetVersionRef, indexHash: string): Promise<AttributionIndex> {
    if (!this.files.has(ref)) await this.copy(ref, indexHash);
    return this.files.open(ref, indexHash);
  }

  private copy(ref: DatanetVersionRef, indexHash: string): Promise<void> {
    const key = versionKey(ref);
    let building = this.copying.get(key);
    if (!building) {
      building = this.build(ref, indexHash).finally(() => this.copying.delete(key));
      this.copying.set(key, building);
    }
    return building;
  }

  private async build(ref: DatanetVersionRef, indexHash: string): Promise<void> {
    const key = versionKey(ref);
    const version = (await this.store.get('attribution_versions', key)) as PublishedVersionDoc | undefined;
    const entries = version && (await readVersionManifest(this.store, version));
    // The read model (shared by the replicas, applied by whichever holds that partition) can lack
    // the version: not applied yet, being rebuilt, or the event set aside by it alone. The log is
    // the source of truth: the manifest is put together from the Datanet's stream instead.
    const source = entries ? { entries, totalBytes: BigInt(version!.totalBytes) } : await versionFromLog(this.log, ref);
    // The index is announced in the log, so its version is published: this process has yet to read
    // it. Tried again later, never taken for a poison inference.
    if (!source) throw new TransientError(`index files of ${key} are not on this machine, and its manifest is neither in the versions read model nor in its Datanet's stream yet`);
    const built = await buildingTransient(key, () => this.files.build(ref, manifestDocuments(source.entries, this.content), { workers: buildWorkers(source.totalBytes) }));
    if (built.indexHash !== indexHash) throw new Error(`index of ${key} built on this machine has hash ${built.indexHash}, the log says ${indexHash}`);
  }
}
