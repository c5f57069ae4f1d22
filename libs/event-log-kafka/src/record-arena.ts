import { closeSync, existsSync, fdatasync, ftruncateSync, fstatSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

/** Bytes per chunk of the arena; a larger record gets a chunk of its own. */
export const CHUNK_BYTES = 4 << 20;

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

/** Where each chunk of a persisted arena lies in its file: [file offset, bytes] per chunk, in order. */
export type ArenaLayout = { readonly chunks: readonly (readonly [number, number])[]; readonly end: number };

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
  private file: { fd: number; path: string; end: number; temporary: boolean } | undefined;
  /**
   * A persisted arena (see persisted): every chunk is written to the file once filled (and the open
   * one's bytes so far at each layout()), so the file holds every record; memory keeps the newest.
   */
  private persisting = false;
  /** Bytes of each chunk in the file (for the open chunk, as many as layout() last wrote). */
  private readonly fileBytes: number[] = [];

  constructor(private readonly options: RecordArenaOptions = {}) {
    this.chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
    this.memoryBytes = options.memoryBytes ?? Infinity;
    if (!(this.memoryBytes >= 0)) throw new RangeError(`memoryBytes: must be 0 or more (got ${options.memoryBytes})`);
  }

  /**
   * An arena kept in the file at `path`, which outlives the process: opened on the records of
   * `layout` (a snapshot's, the file cut back to its end; the newest chunks read back into memory), or
   * empty (the file emptied) without one.
   */
  static persisted(path: string, options: RecordArenaOptions, layout?: ArenaLayout): RecordArena {
    const arena = new RecordArena(options);
    const fd = openSync(path, existsSync(path) ? 'r+' : 'w+', 0o600);
    try {
      const size = fstatSync(fd).size;
      if (layout && size < layout.end) throw new Error(`kafka index file ${path}: ${size} bytes, the snapshot needs ${layout.end}`);
      // Bytes past the snapshot were written after it (by a process that then stopped): unread.
      ftruncateSync(fd, layout?.end ?? 0);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    arena.file = { fd, path, end: layout?.end ?? 0, temporary: false };
    arena.persisting = true;
    if (layout) arena.restore(layout);
    return arena;
  }

  /** Takes the chunks of `layout` as the arena's, all in the file; the newest come back into memory. */
  private restore(layout: ArenaLayout): void {
    for (const [at, bytes] of layout.chunks) {
      if (!(at >= 0 && bytes >= 0 && at + bytes <= layout.end)) throw new Error(`kafka index file: a chunk at ${at} of ${bytes} bytes lies past its end ${layout.end}`);
      this.chunks.push(undefined);
      this.fileAt.push(at);
      this.fileBytes.push(bytes);
      this.total += bytes;
    }
    const back: { chunk: number; bytes: number }[] = [];
    let kept = 0;
    for (let c = this.chunks.length - 1; c >= 0 && kept + this.fileBytes[c]! <= this.memoryBytes; c--) {
      back.unshift({ chunk: c, bytes: this.fileBytes[c]! });
      kept += this.fileBytes[c]!;
    }
    for (const r of back) {
      this.chunks[r.chunk] = this.read(r.chunk, 0, r.bytes);
      this.resident.push(r);
      this.residentBytes += r.bytes;
    }
  }

  /**
   * Where every record lies in the file, for a snapshot: the open chunk's bytes so far are written
   * first. Undefined when the arena is not persisted, or has stopped writing (a full disk).
   */
  layout(): ArenaLayout | undefined {
    if (!this.persisting) return undefined;
    if (this.open >= 0 && this.used > 0 && this.fileBytes[this.open] !== this.used) {
      if (!this.writeChunk(this.open, this.chunks[this.open]!.subarray(0, this.used))) return undefined;
    }
    const chunks: [number, number][] = [];
    for (let c = 0; c < this.chunks.length; c++) {
      if (this.fileBytes[c] === undefined) return undefined; // never written: not a layout to trust
      chunks.push([this.fileAt[c]!, this.fileBytes[c]!]);
    }
    return { chunks, end: this.file!.end };
  }

  /** Makes what the file holds durable (before a snapshot names it). */
  async sync(): Promise<void> {
    if (this.file) await promisify(fdatasync)(this.file.fd);
  }

  /** Forgets every record (the log they came from is not the one in Kafka any more); the file is emptied. */
  reset(): void {
    this.chunks.length = 0;
    this.fileAt.length = 0;
    this.fileBytes.length = 0;
    this.resident.length = 0;
    this.residentBytes = 0;
    this.open = -1;
    this.used = 0;
    this.total = 0;
    if (this.file) {
      if (this.persisting) ftruncateSync(this.file.fd, 0);
      this.file.end = 0;
    }
  }

  /** Whether the file holds every record (see persisted). */
  get persisted(): boolean {
    return this.persisting;
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

  /**
   * A filled chunk joins the resident ones (a persisted arena writes it to its file at once); the
   * oldest move to the file while there are too many bytes.
   */
  private keep(chunk: number, bytes: number): void {
    if (this.persisting) this.writeChunk(chunk, this.chunks[chunk]!.subarray(0, bytes));
    this.resident.push({ chunk, bytes });
    this.residentBytes += bytes;
    while (this.residentBytes > this.memoryBytes && this.resident.length > 0) {
      const oldest = this.resident[0]!;
      if (this.fileBytes[oldest.chunk] !== oldest.bytes && !this.writeChunk(oldest.chunk, this.chunks[oldest.chunk]!.subarray(0, oldest.bytes))) return;
      this.chunks[oldest.chunk] = undefined;
      this.resident.shift();
      this.residentBytes -= oldest.bytes;
    }
  }

  /** Writes a chunk's bytes at the end of the file; false (and everything kept in memory from then on) if the disk refuses. */
  private writeChunk(chunk: number, bytes: Buffer): boolean {
    // The open chunk written before (at a snapshot) and still last in the file: only what it gained
    // since goes after it, so a slow log's snapshots do not write its open chunk again each time.
    const before = this.fileBytes[chunk];
    const grows = before !== undefined && this.file !== undefined && this.fileAt[chunk]! + before === this.file.end && bytes.length >= before;
    const from = grows ? before : 0;
    try {
      this.file ??= openFile(this.options.dir ?? tmpdir());
      let done = from;
      while (done < bytes.length) done += writeSync(this.file.fd, bytes, done, bytes.length - done, this.file.end + done - from);
    } catch (error) {
      // A full or read-only disk: keep everything in memory from now on, and say so once. A persisted
      // arena stops writing: its file keeps what the last snapshot names, and no snapshot follows.
      this.memoryBytes = Infinity;
      this.persisting = false;
      process.emitWarning(`kafka index: cannot write records to disk, keeping them in memory: ${String(error)}`, { code: 'OPAL_KAFKA_INDEX_SPILL' });
      return false;
    }
    if (!grows) this.fileAt[chunk] = this.file.end;
    this.fileBytes[chunk] = bytes.length;
    this.file.end += bytes.length - from;
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

  /** Lets the file go (a persisted arena's file stays); reads of moved records fail after this. */
  close(): void {
    if (!this.file) return;
    closeSync(this.file.fd);
    if (process.platform === 'win32' && this.file.temporary) unlinkQuietly(this.file.path);
    this.file = undefined;
  }
}

function openFile(dir: string): { fd: number; path: string; end: number; temporary: boolean } {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `opal-kafka-index-${process.pid}-${randomUUID()}`);
  const fd = openSync(path, 'wx+', 0o600);
  // Gone from the folder at once: the open descriptor keeps it, and the system frees it with the
  // process, even one killed. (Windows cannot unlink an open file: it is removed at close there.)
  if (process.platform !== 'win32') unlinkQuietly(path);
  return { fd, path, end: 0, temporary: true };
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

