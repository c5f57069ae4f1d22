import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { EventLogError, GroupCommitFile, RECORD_HEADER, frameRecord, refuseDamage, scanLogFile, truncateTo, type ScanResult } from '@opal/event-log';
import type { FileHandle } from 'node:fs/promises';
import type { ContentStore } from './content-store.port.js';

const HASH_BYTES = 32;

/** Where a content sits in a pack file: its hash (hex, no 0x) and its bytes' place. */
export type PackEntry = { readonly hash: string; readonly at: number; readonly length: number };

/**
 * The records of a pack file, in file order, and how far they reach. Damage in the middle is
 * refused (`what` names the file's role); a torn tail is left to the caller.
 */
export function scanPack(path: string, what: string): { entries: PackEntry[]; scan: ScanResult } {
  const entries: PackEntry[] = [];
  const scan = scanLogFile(path, (body, offset) => {
    entries.push({ hash: body.toString('hex', 0, HASH_BYTES), at: offset + RECORD_HEADER + HASH_BYTES, length: body.length - HASH_BYTES });
  });
  // A record is the content's hash and at least one byte of it.
  refuseDamage(path, scan, what, HASH_BYTES + 1);
  return { entries, scan };
}

/** A pack record of `content` under its hash. */
export function packRecord(contentHash: string, content: Uint8Array): Buffer {
  const body = Buffer.allocUnsafe(HASH_BYTES + content.length);
  body.write(contentKey(contentHash), 0, 'hex');
  body.set(content, HASH_BYTES);
  return frameRecord(body);
}

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

  /** Undefined when opened read-only. */
  private readonly writer: GroupCommitFile | undefined;

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle | undefined,
    fsync: boolean,
    /** -1 for a pack that does not exist (read-only: an empty store). */
    private readonly readFd: number,
    entries: readonly PackEntry[],
    end: number,
  ) {
    this.writer = handle && new GroupCommitFile(handle, fsync);
    for (const e of entries) this.index.set(e.hash, { at: e.at, length: e.length });
    this.end = end;
  }

  static async open(dir: string, fsync = true): Promise<PackContentStore> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'content.pack');
    if (!existsSync(path)) closeSync(openSync(path, 'a'));
    const { entries, scan } = scanPack(path, 'content pack');
    if (scan.validBytes < scan.fileBytes) truncateTo(path, scan.validBytes);
    const handle = await open(path, 'a');
    return new PackContentStore(path, handle, fsync, openSync(path, 'r'), entries, scan.validBytes);
  }

  /**
   * The pack of a data folder read without being written, so beside the node that may be writing it
   * (a tail being written is left out, as a read-only open of the log does); empty where there is none.
   */
  static openReadOnly(dir: string): PackContentStore {
    const path = join(dir, 'content.pack');
    if (!existsSync(path)) return new PackContentStore(path, undefined, false, -1, [], 0);
    const { entries, scan } = scanPack(path, 'content pack');
    return new PackContentStore(path, undefined, false, openSync(path, 'r'), entries, scan.validBytes);
  }

  async put(contentHash: string, content: Uint8Array): Promise<void> {
    const key = contentKey(contentHash);
    if (this.index.has(key)) return;
    if (!this.writer) throw new EventLogError('FAILED_PRECONDITION', `content pack ${this.path}: opened read-only`);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const frame = packRecord(key, content);
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
    const key = contentKey(contentHash);
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
    return this.index.has(contentKey(contentHash));
  }

  async close(): Promise<void> {
    await this.writer?.drained();
    await this.handle?.close();
    if (this.readFd >= 0) closeSync(this.readFd);
  }

  get file(): string {
    return this.path;
  }
}

/** A content hash as the pack keys it: 64 hex digits, without 0x. */
export function contentKey(contentHash: string): string {
  const h = contentHash.startsWith('0x') ? contentHash.slice(2) : contentHash;
  if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`content_hash: ${JSON.stringify(contentHash)} is not a SHA-256 hex digest`);
  return h;
}
