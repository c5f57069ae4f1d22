import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

/** Bytes per chunk of the arena; a larger record gets a chunk of its own. */
const CHUNK_BYTES = 4 << 20;

export type RecordArenaOptions = {
  /**
   * Bytes of chunks kept in memory, the newest ones (default: all). Older chunks are written to a
   * file of this process and read from it when asked for, so a long log costs disk, not memory.
   */
  readonly memoryBytes?: number;
  /** Folder of that file (created if missing; default the OS temp folder). */
  readonly dir?: string;
  /** Size of a chunk (tests use small ones). */
  readonly chunkBytes?: number;
};

/**
 * Append-only storage of records' bytes in large chunks: many small records held without an object
 * (or a Buffer view) each, so a process that holds a long log has little for the collector to walk.
 * A record is addressed by (chunk, start), its length kept by the caller.
 *
 * Past `memoryBytes`, the oldest chunks move to a file: it is unlinked as soon as it is opened, so
 * the system frees it when the process ends, however it ends. Records are never changed once
 * added, so a view handed out of a chunk stays right after the chunk has moved (the view keeps its
 * memory alive until dropped).
 */
export class RecordArena {
  /** Each chunk's memory while it is resident; undefined once it lives in the file. */
  private readonly chunks: (Buffer | undefined)[] = [];
  /** Where each moved chunk starts in the file. */
  private readonly fileAt: number[] = [];
  /** Resident chunks other than the open one, oldest first, with their used bytes. */
  private readonly resident: { chunk: number; bytes: number }[] = [];
  private residentBytes = 0;
  /** The chunk small records go to, and how much of it is used. */
  private open = -1;
  private used = 0;
  private total = 0;
  private readonly chunkBytes: number;
  private memoryBytes: number;
  private file: { fd: number; path: string; end: number } | undefined;

  constructor(private readonly options: RecordArenaOptions = {}) {
    this.chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
    this.memoryBytes = options.memoryBytes ?? Infinity;
    if (!(this.memoryBytes >= 0)) throw new RangeError(`memoryBytes: must be 0 or more (got ${options.memoryBytes})`);
  }

  /** Copies `bytes` in; returns where they went. */
  add(bytes: Uint8Array): { chunk: number; start: number } {
    const n = bytes.byteLength;
    this.total += n;
    if (n > this.chunkBytes) {
      // A record this large (a big version manifest) gets a chunk of its own; the open one stays open.
      const own = Buffer.allocUnsafeSlow(n);
      own.set(bytes);
      const chunk = this.chunks.push(own) - 1;
      this.keep(chunk, n);
      return { chunk, start: 0 };
    }
    if (this.open < 0 || this.used + n > this.chunkBytes) {
      if (this.open >= 0) this.keep(this.open, this.used);
      this.open = this.chunks.push(Buffer.allocUnsafeSlow(this.chunkBytes)) - 1;
      this.used = 0;
    }
    const start = this.used;
    this.chunks[this.open]!.set(bytes, start);
    this.used += n;
    return { chunk: this.open, start };
  }

  /**
   * `length` bytes of a record from `start` in `chunk`: a view of its memory while the chunk is
   * resident, otherwise a copy read from the file.
   */
  read(chunk: number, start: number, length: number): Buffer {
    const mem = this.chunks[chunk];
    if (mem) return mem.subarray(start, start + length);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const got = readSync(this.file!.fd, out, done, length - done, this.fileAt[chunk]! + start + done);
      if (got === 0) throw new Error(`kafka index file ${this.file!.path}: ended before the record at chunk ${chunk}, ${start}`);
      done += got;
    }
    return out;
  }

  /** A filled chunk joins the resident ones; the oldest move to the file while there are too many bytes. */
  private keep(chunk: number, bytes: number): void {
    this.resident.push({ chunk, bytes });
    this.residentBytes += bytes;
    while (this.residentBytes > this.memoryBytes && this.resident.length > 0) {
      const oldest = this.resident[0]!;
      if (!this.moveToFile(oldest.chunk, this.chunks[oldest.chunk]!.subarray(0, oldest.bytes))) return;
      this.resident.shift();
      this.residentBytes -= oldest.bytes;
    }
  }

  private moveToFile(chunk: number, bytes: Buffer): boolean {
    try {
      this.file ??= openFile(this.options.dir ?? tmpdir());
      let done = 0;
      while (done < bytes.length) done += writeSync(this.file.fd, bytes, done, bytes.length - done, this.file.end + done);
    } catch (error) {
      // A full or read-only disk: keep everything in memory from now on, and say so once.
      this.memoryBytes = Infinity;
      process.emitWarning(`kafka index: cannot move records to disk, keeping them in memory: ${String(error)}`, { code: 'OPAL_KAFKA_INDEX_SPILL' });
      return false;
    }
    this.fileAt[chunk] = this.file.end;
    this.file.end += bytes.length;
    this.chunks[chunk] = undefined;
    return true;
  }

  /** Bytes of records held (not counting the unused end of the open chunk). */
  get bytes(): number {
    return this.total;
  }

  /** Bytes of records in memory, and in the file. */
  get placement(): { memory: number; file: number } {
    return { memory: this.residentBytes + this.used, file: this.file?.end ?? 0 };
  }

  /** Lets the file go; reads of moved records fail after this. */
  close(): void {
    if (!this.file) return;
    closeSync(this.file.fd);
    if (process.platform === 'win32') unlinkQuietly(this.file.path);
    this.file = undefined;
  }
}

function openFile(dir: string): { fd: number; path: string; end: number } {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `opal-kafka-index-${process.pid}-${randomUUID()}`);
  const fd = openSync(path, 'wx+', 0o600);
  // Gone from the folder at once: the open descriptor keeps it, and the system frees it with the
  // process, even one killed. (Windows cannot unlink an open file: it is removed at close there.)
  if (process.platform !== 'win32') unlinkQuietly(path);
  return { fd, path, end: 0 };
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

