import { createHash } from 'node:crypto';
import { readFile, writeFile, rm, mkdir, access, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceError } from '../inference.errors.js';

export type HostCacheOptions = {
  /** Adapters kept in host memory; 0 turns the tier off (the engine reads `path` itself). */
  readonly capacity: number;
  /** Where verified bytes are staged for the engine, named by content hash. */
  readonly stagingDir?: string;
};

type HostEntry = { readonly bytes: Buffer; readonly hash: string; readonly stagedPath: string | null };

/**
 * The host-memory tier: adapter bytes read once from disk, checked against the hash recorded at
 * registration, and staged under a content-addressed name. node-llama-cpp caches LoRA weights by file
 * path, so a content-addressed path also means a replaced file can never be served from a stale cache.
 */
export class HostAdapterCache {
  private readonly entries = new Map<string, HostEntry>();
  /** Staged files still needed by an engine-resident adapter, by path. */
  private readonly inUse = new Map<string, number>();
  private tmpSeq = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly opts: HostCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  has(adapterId: string): boolean {
    return this.entries.has(adapterId);
  }

  /** Returns the path the engine should load; reads and stages the file on a miss. */
  async stage(adapterId: string, path: string, expectedHash?: string): Promise<string> {
    if (this.opts.capacity === 0) return path;
    const hit = this.entries.get(adapterId);
    if (hit) {
      this.hits++;
      this.entries.delete(adapterId);
      this.entries.set(adapterId, hit);
      return this.retain(hit.stagedPath ?? path);
    }
    this.misses++;
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw new InferenceError('ADAPTER_INVALID', `adapter ${adapterId}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (expectedHash && expectedHash !== hash) {
      throw new InferenceError('ADAPTER_INVALID', `adapter ${adapterId}: content hash ${hash} differs from the registered ${expectedHash}`);
    }
    if (!this.opts.stagingDir) {
      this.entries.set(adapterId, { bytes, hash, stagedPath: null });
      await this.trim();
      return this.retain(path);
    }
    // Retain before any await, so a concurrent trim cannot delete the file between check and load.
    const stagedPath = this.retain(join(this.opts.stagingDir, `${hash}.gguf`));
    try {
      await mkdir(this.opts.stagingDir, { recursive: true });
      if (!(await access(stagedPath).then(() => true, () => false))) {
        // Write then rename: a concurrent load of the same content never sees a half-written file.
        const tmp = `${stagedPath}.${process.pid}.${++this.tmpSeq}.tmp`;
        await writeFile(tmp, bytes);
        await rename(tmp, stagedPath);
      }
    } catch (e) {
      this.release(stagedPath);
      throw e;
    }
    this.entries.set(adapterId, { bytes, hash, stagedPath });
    await this.trim();
    return stagedPath;
  }

  /** The engine no longer uses a staged path. */
  release(stagedPath: string): void {
    const n = (this.inUse.get(stagedPath) ?? 1) - 1;
    if (n > 0) this.inUse.set(stagedPath, n);
    else this.inUse.delete(stagedPath);
  }

  private retain(p: string): string {
    this.inUse.set(p, (this.inUse.get(p) ?? 0) + 1);
    return p;
  }

  private async trim(): Promise<void> {
    while (this.entries.size > this.opts.capacity) {
      const [id, e] = this.entries.entries().next().value as [string, HostEntry];
      this.entries.delete(id);
      const shared = [...this.entries.values()].some((x) => x.stagedPath === e.stagedPath);
      if (e.stagedPath && !shared && !this.inUse.has(e.stagedPath)) await rm(e.stagedPath, { force: true });
    }
  }
}
