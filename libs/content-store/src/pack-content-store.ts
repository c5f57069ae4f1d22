import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { GroupCommitFile, RECORD_HEADER, frameRecord, refuseDamage, scanLogFile, truncateTo } from '@opal/event-log';
import type { FileHandle } from 'node:fs/promises';
import type { ContentStore } from './content-store.port.js';

const HASH_BYTES = 32;

/**
 * Contribution bytes, content-addressed, in an append-only pack file (`<dir>/content.pack`):
 * records `u32 length | u32 CRC-32 | SHA-256 | bytes`, written by group commit (one writev and
 * one fdatasync for everything stored meanwhile), so storing a contribution costs no file of its
 * own and no fsync of its own. The hash -> offset index is rebuilt by scanning at open; a torn
 * tail from a crash is cut off. Storing a known hash again is a no-op.
 */
export class PackContentStore implements ContentStore {
  private readonly index = new Map<string, { at: number; length: number }>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private end = 0;

  private readonly writer: GroupCommitFile;

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    fsync: boolean,
    private readonly readFd: number,
  ) {
    this.writer = new GroupCommitFile(handle, fsync);
  }

  static async open(dir: string, fsync = true): Promise<PackContentStore> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'content.pack');
    if (!existsSync(path)) closeSync(openSync(path, 'a'));
    const entries: [string, { at: number; length: number }][] = [];
    const scan = scanLogFile(path, (body, offset) => {
      entries.push([body.toString('hex', 0, HASH_BYTES), { at: offset + RECORD_HEADER + HASH_BYTES, length: body.length - HASH_BYTES }]);
    });
    // A record is the content's hash and at least one byte of it.
    refuseDamage(path, scan, 'content pack', HASH_BYTES + 1);
    if (scan.validBytes < scan.fileBytes) truncateTo(path, scan.validBytes);
    const handle = await open(path, 'a');
    const store = new PackContentStore(path, handle, fsync, openSync(path, 'r'));
    for (const [hash, loc] of entries) store.index.set(hash, loc);
    store.end = scan.validBytes;
    return store;
  }

  async put(contentHash: string, content: Uint8Array): Promise<void> {
    const key = keyOf(contentHash);
    if (this.index.has(key)) return;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const body = Buffer.allocUnsafe(HASH_BYTES + content.length);
    body.write(key, 0, 'hex');
    body.set(content, HASH_BYTES);
    const frame = frameRecord(body);
    const at = this.end + RECORD_HEADER + HASH_BYTES;
    this.end += frame.length;
    const write = this.writer.append([frame]).then(
      () => {
        this.index.set(key, { at, length: content.length });
        this.inFlight.delete(key);
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, write);
    return write;
  }

  async get(contentHash: string): Promise<Uint8Array | undefined> {
    const key = keyOf(contentHash);
    await this.inFlight.get(key);
    const loc = this.index.get(key);
    if (!loc) return undefined;
    const out = Buffer.allocUnsafe(loc.length);
    readSync(this.readFd, out, 0, loc.length, loc.at);
    return out;
  }

  async getMany(contentHashes: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const h of contentHashes) {
      const bytes = await this.get(h);
      if (bytes) out.set(h, bytes);
    }
    return out;
  }

  has(contentHash: string): boolean {
    return this.index.has(keyOf(contentHash));
  }

  async close(): Promise<void> {
    await this.writer.drained();
    await this.handle.close();
    closeSync(this.readFd);
  }

  get file(): string {
    return this.path;
  }
}

function keyOf(contentHash: string): string {
  const h = contentHash.startsWith('0x') ? contentHash.slice(2) : contentHash;
  if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`content_hash: ${JSON.stringify(contentHash)} is not a SHA-256 hex digest`);
  return h;
}
