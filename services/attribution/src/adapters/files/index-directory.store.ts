import { existsSync, readFileSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AttributionIndex, buildIndex, type IndexDocument, type IndexManifest } from '@opal/attribution-index';
import type { IndexFiles } from '../../application/attribution.ports.js';
import { versionKey, type DatanetVersionRef } from '../../domain/datanet-version.js';

const MANIFEST = 'manifest.json';

/**
 * Index directories under `<dataDir>/indexes/<datanet>@<version>`. Opened indexes stay in memory
 * (least recently used dropped beyond `maxOpen`); each is checked against its hash when opened.
 */
export class IndexDirectoryStore implements IndexFiles {
  private readonly opened = new Map<string, AttributionIndex>();

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
    const tmp = `${final}.building`;
    rmSync(tmp, { recursive: true, force: true });
    const manifest = await buildIndex(documents, { dir: tmp, workers: options.workers });
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    return manifest;
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
