import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { EventLogError, frameRecord, RECORD_HEADER, refuseDamage, scanLogFile } from '@opal/event-log';

const HASH_BYTES = 32;

/** Where a content sits in a pack file: its hash (hex, no 0x) and its bytes' place. */
type Entry = { readonly hash: string; readonly at: number; readonly length: number };

/** The records of a pack file (`u32 length | u32 CRC-32 | SHA-256 | bytes`, see PackContentStore), in file order. */
function entriesOf(path: string, what: string, complete: boolean): Entry[] {
  const entries: Entry[] = [];
  const scan = scanLogFile(path, (body, offset) => {
    entries.push({ hash: body.toString('hex', 0, HASH_BYTES), at: offset + RECORD_HEADER + HASH_BYTES, length: body.length - HASH_BYTES });
  });
  refuseDamage(path, scan, what, HASH_BYTES + 1);
  if (complete && scan.validBytes < scan.fileBytes) {
    throw new EventLogError('FAILED_PRECONDITION', `${what} ${path}: cut off after ${entries.length} contents (byte ${scan.validBytes} of ${scan.fileBytes}); export it again`);
  }
  return entries;
}

/**
 * A content pack read without being written: the embedded content store of a data folder whose node
 * may be running (a tail being written is left out, as a read-only open of the log does).
 */
export class ContentPackReader {
  private constructor(
    private readonly fd: number,
    private readonly index: ReadonlyMap<string, Entry>,
  ) {}

  /** The pack of a data folder's content store (`<dir>/content.pack`); empty where there is none. */
  static open(dir: string): ContentPackReader {
    const path = join(dir, 'content.pack');
    if (!existsSync(path)) return new ContentPackReader(-1, new Map());
    const entries = entriesOf(path, 'content pack', false);
    return new ContentPackReader(openSync(path, 'r'), new Map(entries.map((e) => [e.hash, e])));
  }

  async getMany(contentHashes: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const h of contentHashes) {
      const e = this.index.get(hexOf(h));
      if (!e) continue;
      const bytes = Buffer.allocUnsafe(e.length);
      readSync(this.fd, bytes, 0, e.length, e.at);
      out.set(h, bytes);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.fd >= 0) closeSync(this.fd);
  }
}

/**
 * Writes contents to a pack file, the format of the embedded store's own `content.pack`: to
 * `<path>.partial`, synced and renamed to `path` by `finish`, so a file cut off part-way is never
 * taken for a whole export.
 */
export class ContentPackWriter {
  private readonly fd: number;
  private readonly partial: string;
  contents = 0;
  bytes = 0;

  constructor(private readonly path: string) {
    this.partial = `${path}.partial`;
    this.fd = openSync(this.partial, 'w');
  }

  add(contentHash: string, content: Uint8Array): void {
    const body = Buffer.allocUnsafe(HASH_BYTES + content.length);
    body.write(hexOf(contentHash), 0, 'hex');
    body.set(content, HASH_BYTES);
    writeSync(this.fd, frameRecord(body));
    this.contents++;
    this.bytes += content.length;
  }

  finish(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.partial, this.path);
  }

  abandon(): void {
    closeSync(this.fd);
    rmSync(this.partial, { force: true });
  }
}

/**
 * Every content of an exported pack file, in file order, `batch` at a time, each checked against its
 * hash: a whole file is refused if it was cut off, damaged, or holds bytes another hash names.
 */
export async function* readContentPack(path: string, batch = 64): AsyncGenerator<{ contentHash: string; content: Uint8Array }[]> {
  const entries = entriesOf(path, 'content export', true);
  const fd = openSync(path, 'r');
  try {
    for (let i = 0; i < entries.length; i += batch) {
      yield entries.slice(i, i + batch).map((e) => {
        const content = Buffer.allocUnsafe(e.length);
        readSync(fd, content, 0, e.length, e.at);
        const actual = createHash('sha256').update(content).digest('hex');
        if (actual !== e.hash) {
          throw new EventLogError('FAILED_PRECONDITION', `content export ${path}: the content at byte ${e.at} hashes to 0x${actual}, not 0x${e.hash} as recorded`);
        }
        return { contentHash: `0x${e.hash}`, content };
      });
    }
  } finally {
    closeSync(fd);
  }
}

function hexOf(contentHash: string): string {
  const h = contentHash.startsWith('0x') ? contentHash.slice(2) : contentHash;
  if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`content_hash: ${JSON.stringify(contentHash)} is not a SHA-256 hex digest`);
  return h;
}
