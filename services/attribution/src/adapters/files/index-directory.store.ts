import { existsSync, readFileSync, readdirSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AttributionIndex, buildIndex, type IndexDocument, type IndexManifest } from '@opal/attribution-index';
import type { IndexFiles } from '../../application/attribution.ports.js';
import { versionKey, type DatanetVersionRef } from '../../domain/datanet-version.js';

const MANIFEST = 'manifest.json';
/** Between a version's folder name and the builder's pid: the folder a build writes before it is renamed. */
const BUILDING = '.building-';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Index directories under `<dataDir>/indexes/<datanet>@<version>`. Opened indexes stay in memory
 * (least recently used dropped beyond `maxOpen`); each is checked against its hash when opened.
 */
export class IndexDirectoryStore implements IndexFiles {
  private readonly opened = new Map<string, AttributionIndex>();
  /** Names of the folders builds of this process are writing now. */
  private readonly building = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly maxOpen = 16,
  ) {}

  pathOf(ref: DatanetVersionRef): string {
    return join(this.dir, versionKey(ref));
  }

  has(ref: DatanetVersionRef): boolean {
    return this.opened.has(versionKey(ref)) || existsSync(join(this.pathOf(ref), MANIFEST));
  }

  async build(ref: DatanetVersionRef, documents: AsyncIterable<IndexDocument>, options: { workers?: number }): Promise<IndexManifest> {
    const final = this.pathOf(ref);
    if (existsSync(join(final, MANIFEST))) {
      // Finished before a restart (the event was not appended yet): verify and reuse it.
      return AttributionIndex.open(final).manifest;
    }
    mkdirSync(this.dir, { recursive: true });
    this.removeAbandoned(ref);
    // A folder of this build's own: another process sharing the data folder may build the same version.
    const name = `${versionKey(ref)}${BUILDING}${process.pid}-${randomBytes(4).toString('hex')}`;
    const tmp = join(this.dir, name);
    this.building.add(name);
    let manifest: IndexManifest;
    try {
      manifest = await buildIndex(documents, { dir: tmp, workers: options.workers });
    } catch (error) {
      rmSync(tmp, { recursive: true, force: true });
      throw error;
    } finally {
      this.building.delete(name);
    }
    // A build is deterministic: one another process finished meanwhile holds the same files, and is
    // kept (never removed under whoever opened it). Renaming onto a folder that is there fails.
    const finished = () => existsSync(join(final, MANIFEST));
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(tmp, final);
        return manifest;
      } catch (error) {
        if (finished()) break;
        const code = (error as NodeJS.ErrnoException).code;
        if (attempt > 0 || (code !== 'ENOTEMPTY' && code !== 'EEXIST')) throw error;
        rmSync(final, { recursive: true, force: true }); // no manifest: what is there is not an index
      }
    }
    rmSync(tmp, { recursive: true, force: true });
    return manifest;
  }

  /** Builds of this version that a process no longer running left behind (it was killed mid-build). */
  private removeAbandoned(ref: DatanetVersionRef): void {
    const prefix = `${versionKey(ref)}${BUILDING}`;
    for (const name of readdirSync(this.dir)) {
      // `<version>.building`: where builds wrote before they had folders of their own.
      if (name === `${versionKey(ref)}.building`) {
        rmSync(join(this.dir, name), { recursive: true, force: true });
        continue;
      }
      if (!name.startsWith(prefix)) continue;
      if (this.building.has(name)) continue; // under way in this process
      // Another process's, while it runs (this pid's: an earlier run's, in a container that reuses pids).
      const pid = Number(name.slice(prefix.length).split('-')[0]);
      if (pid !== process.pid && isRunning(pid)) continue;
      rmSync(join(this.dir, name), { recursive: true, force: true });
    }
  }

  open(ref: DatanetVersionRef, indexHash: string): AttributionIndex {
    const key = versionKey(ref);
    let index = this.opened.get(key);
    if (index) {
      this.opened.delete(key);
    } else {
      const path = this.pathOf(ref);
      if (!existsSync(join(path, MANIFEST))) throw new Error(`index files of ${key} are missing under ${path}`);
      const onDisk = (JSON.parse(readFileSync(join(path, MANIFEST), 'utf8')) as IndexManifest).indexHash;
      if (onDisk !== indexHash) throw new Error(`index of ${key} on disk has hash ${onDisk}, the log says ${indexHash}`);
      index = AttributionIndex.open(path);
    }
    this.opened.set(key, index);
    while (this.opened.size > this.maxOpen) this.opened.delete(this.opened.keys().next().value!);
    return index;
  }
}
