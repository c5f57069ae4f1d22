import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { EventLogError } from '@opal/event-log';
import { packRecord, scanPack } from './pack-content-store.js';

// Contents moved between content stores (`opal content export` / `content import`) travel as a
// file in the pack's own format (see PackContentStore).

/**
 * Writes contents to a pack file: to `<path>.partial`, synced and renamed to `path` by `finish`, so
 * a file cut off part-way is never taken for a whole export.
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
    writeSync(this.fd, packRecord(contentHash, content));
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
  const { entries, scan } = scanPack(path, 'content export');
  if (scan.validBytes < scan.fileBytes) {
    throw new EventLogError('FAILED_PRECONDITION', `content export ${path}: cut off after ${entries.length} contents (byte ${scan.validBytes} of ${scan.fileBytes}); export it again`);
  }
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
