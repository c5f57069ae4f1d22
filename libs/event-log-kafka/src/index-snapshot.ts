import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { ArenaLayout } from './record-arena.js';
import type { StreamTableState } from './stream-table.js';

/**
 * What a LogIndex holds, as written to its snapshot: its records' places in the records file, a row
 * of numbers per event, each partition's accepted events and how far it was read, and its table of
 * streams. Arrays of the same column may come in several parts (a Column's blocks).
 */
export type IndexImage = {
  /** The topics the index reads, in order: a snapshot of other topics is not this log's. */
  readonly topics: readonly string[];
  readonly chunkBytes: number;
  readonly layout: ArenaLayout;
  /** Partition keys by number, with the next offset to read and the offsets of race losers. */
  readonly partitions: readonly { readonly key: string; readonly next: number; readonly rejected: readonly number[]; readonly entries: readonly Uint32Array[] }[];
  readonly events: number;
  readonly chunkOf: readonly Uint32Array[];
  readonly startOf: readonly Uint32Array[];
  readonly lengthOf: readonly Uint32Array[];
  readonly partitionOf: readonly Uint32Array[];
  readonly hashAt: readonly Uint32Array[];
  readonly offsetOf: readonly Float64Array[];
  readonly table: StreamTableState;
  /** Streams of more than one event: [first entry, count, entries...] one after another. */
  readonly longer: Uint32Array;
  /** A stream of each kind met in each topic (LogIndex.notePlacement). */
  readonly placements: readonly (readonly [string, string])[];
};

/** An image read back: every column in one array. */
export type LoadedImage = Omit<IndexImage, 'partitions' | 'chunkOf' | 'startOf' | 'lengthOf' | 'partitionOf' | 'hashAt' | 'offsetOf'> & {
  readonly partitions: readonly { readonly key: string; readonly next: number; readonly rejected: readonly number[]; readonly entries: Uint32Array }[];
  readonly chunkOf: Uint32Array;
  readonly startOf: Uint32Array;
  readonly lengthOf: Uint32Array;
  readonly partitionOf: Uint32Array;
  readonly hashAt: Uint32Array;
  readonly offsetOf: Float64Array;
};

const MAGIC = Buffer.from('OPALKIX1');
const FORMAT = 1;
const HASH_BYTES = 32;

type Header = {
  format: number;
  endian: string;
  topics: string[];
  chunkBytes: number;
  layout: ArenaLayout;
  partitions: { key: string; next: number; rejected: number[]; entries: number }[];
  events: number;
  table: { slots: number; count: number };
  longer: number;
  placements: [string, string][];
};

/**
 * The image as bytes: magic, header length and JSON header, then the arrays (views, not copies). The
 * SHA-256 of all that, which ends the file, is added by IndexFiles.write as it writes them.
 */
export function encodeImage(image: IndexImage): Uint8Array[] {
  const header: Header = {
    format: FORMAT,
    endian: endianness(),
    topics: [...image.topics],
    chunkBytes: image.chunkBytes,
    layout: image.layout,
    partitions: image.partitions.map((p) => ({ key: p.key, next: p.next, rejected: [...p.rejected], entries: lengthOf(p.entries) })),
    events: image.events,
    table: { slots: image.table.values.length, count: image.table.count },
    longer: image.longer.length,
    placements: image.placements.map(([t, id]) => [t, id]),
  };
  const json = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(4);
  size.writeUInt32LE(json.length);
  const parts: Uint8Array[] = [MAGIC, size, json];
  const add = (arrays: readonly (Uint32Array | Float64Array)[]) => {
    for (const a of arrays) parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  };
  add(image.chunkOf);
  add(image.startOf);
  add(image.lengthOf);
  add(image.partitionOf);
  add(image.hashAt);
  add(image.offsetOf);
  for (const p of image.partitions) add(p.entries);
  add([image.table.hi, image.table.lo, image.table.values, image.longer]);
  return parts;
}

/** Reads an image back; throws, saying why, for bytes that are not a whole image of this format. */
export function decodeImage(bytes: Buffer): LoadedImage {
  if (bytes.length < MAGIC.length + 4 + HASH_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a kafka index snapshot');
  const body = bytes.subarray(0, bytes.length - HASH_BYTES);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(bytes.length - HASH_BYTES))) throw new Error('its checksum does not match (a torn or damaged file)');
  const jsonLength = body.readUInt32LE(MAGIC.length);
  let at = MAGIC.length + 4;
  const header = JSON.parse(body.subarray(at, at + jsonLength).toString('utf8')) as Header;
  at += jsonLength;
  if (header.format !== FORMAT) throw new Error(`format ${header.format}, this release reads ${FORMAT}`);
  if (header.endian !== endianness()) throw new Error(`written on a ${header.endian} machine`);
  const u32 = (n: number): Uint32Array => {
    const out = new Uint32Array(n);
    new Uint8Array(out.buffer).set(take(n * 4));
    return out;
  };
  const f64 = (n: number): Float64Array => {
    const out = new Float64Array(n);
    new Uint8Array(out.buffer).set(take(n * 8));
    return out;
  };
  const take = (n: number): Buffer => {
    if (at + n > body.length) throw new Error('it ends before its arrays do');
    const out = body.subarray(at, at + n);
    at += n;
    return out;
  };
  const n = header.events;
  const image: LoadedImage = {
    topics: header.topics,
    chunkBytes: header.chunkBytes,
    layout: header.layout,
    events: n,
    chunkOf: u32(n),
    startOf: u32(n),
    lengthOf: u32(n),
    partitionOf: u32(n),
    hashAt: u32(n),
    offsetOf: f64(n),
    partitions: [],
    table: { hi: new Uint32Array(0), lo: new Uint32Array(0), values: new Uint32Array(0), count: header.table.count },
    longer: new Uint32Array(0),
    placements: header.placements,
  };
  const partitions = header.partitions.map((p) => ({ key: p.key, next: p.next, rejected: p.rejected, entries: u32(p.entries) }));
  const table = { hi: u32(header.table.slots), lo: u32(header.table.slots), values: u32(header.table.slots), count: header.table.count };
  const longer = u32(header.longer);
  if (at !== body.length) throw new Error(`${body.length - at} bytes past its arrays`);
  return { ...image, partitions, table, longer };
}

const lengthOf = (arrays: readonly Uint32Array[]): number => arrays.reduce((n, a) => n + a.length, 0);

/** Folders of this process's persisted indexes: a second log of the process on one gets none. */
const held = new Set<string>();

/**
 * The folder a process keeps its index of one log in, across restarts: `records` (every record read,
 * in chunks), `index` (the last snapshot, replaced whole), and `lock`, naming the process that uses
 * it. A folder another live process holds is not taken (that process's index would be overwritten).
 */
export class IndexFiles {
  private constructor(readonly dir: string) {}

  /** The folder for these topics under `root`, taken for this process; undefined if another holds it. */
  static take(root: string, topics: readonly string[]): IndexFiles | undefined {
    const dir = join(root, `log-${createHash('sha256').update(topics.join('\n')).digest('hex').slice(0, 16)}`);
    if (held.has(dir)) return undefined;
    mkdirSync(dir, { recursive: true });
    const lock = join(dir, 'lock');
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock naming this process's own id was left by an earlier run that had it (a container's
      // process is often 1 every time): this process has taken none yet.
      const pid = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return undefined;
      writeFileSync(lock, String(process.pid), { mode: 0o600 });
    }
    held.add(dir);
    return new IndexFiles(dir);
  }

  get recordsPath(): string {
    return join(this.dir, 'records');
  }

  private get imagePath(): string {
    return join(this.dir, 'index');
  }

  /** The last snapshot's bytes, or undefined if there is none. */
  read(): Buffer | undefined {
    try {
      return readFileSync(this.imagePath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /**
   * Replaces the snapshot with these bytes (encodeImage's) and their SHA-256, whole or not at all
   * (written aside, synced, renamed). The hash is taken a few parts at a time between writes, so a
   * long index's snapshot does not hold the process's event loop for all of it at once.
   */
  async write(parts: readonly Uint8Array[]): Promise<void> {
    const aside = `${this.imagePath}.new`;
    const file = await open(aside, 'w', 0o600);
    try {
      const hash = createHash('sha256');
      for (let i = 0; i < parts.length; i += 16) {
        const some = parts.slice(i, i + 16);
        for (const p of some) hash.update(p);
        await file.writev(some);
      }
      await file.write(hash.digest());
      await file.datasync();
    } finally {
      await file.close();
    }
    renameSync(aside, this.imagePath);
    syncDir(this.dir);
  }

  /** Removes the snapshot (what the records file holds no longer matches it). */
  forget(): void {
    try {
      unlinkSync(this.imagePath);
    } catch {
      // none
    }
  }

  release(): void {
    held.delete(this.dir);
    try {
      unlinkSync(join(this.dir, 'lock'));
    } catch {
      // already gone
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A rename is durable once its folder is synced (not possible on every system: skipped there). */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // a system that cannot sync a folder
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
