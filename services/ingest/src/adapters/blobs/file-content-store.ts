import { mkdir, open, readFile, rename, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../../application/ingest.ports.js';

/**
 * Contribution bytes as files named by their SHA-256 (`ab/cd/<hash>`), written to a temporary
 * name, flushed to disk, then renamed, so a file under its final name is always whole.
 */
export class FileContentStore implements ContentStore {
  private readonly known = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly fsync = true,
  ) {}

  private pathOf(hash: string): { dir: string; file: string } {
    const h = hash.replace(/^0x/, '');
    if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`content_hash: ${JSON.stringify(hash)} is not a SHA-256 hex digest`);
    const dir = join(this.dir, h.slice(0, 2), h.slice(2, 4));
    return { dir, file: join(dir, h) };
  }

  async put(contentHash: string, content: Uint8Array): Promise<void> {
    if (this.known.has(contentHash)) return;
    const { dir, file } = this.pathOf(contentHash);
    try {
      await access(file);
      this.known.add(contentHash);
      return;
    } catch {
      // not there yet
    }
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(content);
      if (this.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    this.known.add(contentHash);
  }

  async get(contentHash: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.pathOf(contentHash).file);
    } catch {
      return undefined;
    }
  }
}
