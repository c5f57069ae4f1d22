import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Doc, ProjectionCheckpoint } from './document-store.port.js';

/**
 * One projection's state as the memory store snapshots it, captured at one checkpoint: the arrays
 * hold the documents as they were then (documents are never changed in place, only replaced).
 */
export type ReadModelSnapshot = {
  readonly checkpoint: Omit<ProjectionCheckpoint, 'streams'>;
  /** The checkpoint's sequence guard (`streams`), as entries. */
  readonly streams: readonly (readonly [string, number])[];
  readonly collections: readonly { readonly name: string; readonly ids: readonly string[]; readonly docs: readonly Doc[] }[];
};

/**
 * The file, one JSON value per line, so that neither writing nor reading ever holds it as one string
 * (V8's strings stop at 2^29 characters, about 2.2 million contribution documents):
 * - a header: `{"format":2,"checkpoint":{cursor, applied, version},"collections":[names]}`;
 * - `["stream", id, seq]` per stream of the checkpoint's sequence guard;
 * - `["doc", collection index, id, document]` per document;
 * - a trailer: `{"end":{"documents":n,"streams":n,"sha256":hex}}`, the hash over every line before it.
 * A file whose trailer is missing or does not match is not loaded (see readReadModelSnapshot).
 */
const FORMAT = 2;
/** Bytes gathered before each write: the writer yields to the event loop between them. */
const CHUNK_BYTES = 1 << 20;

type Header = { format: number; checkpoint: Omit<ProjectionCheckpoint, 'streams'>; collections: string[] };
type Trailer = { end: { documents: number; streams: number; sha256: string } };
type Line = ['stream', string, number] | ['doc', number, string, Doc];

/** Where a projection's snapshot lives in `dir`, and where the single-JSON layout before this one kept it. */
export function snapshotFiles(dir: string, projection: string): { file: string; legacy: string } {
  return { file: join(dir, `${projection}.snapshot.ndjson`), legacy: join(dir, `${projection}.snapshot.json`) };
}

/**
 * Writes the snapshot to `file.tmp` in chunks, awaiting each write (so a large state never blocks the
 * event loop for long), syncs it and renames it over `file`: a reader sees the old file or the new one.
 */
export async function writeReadModelSnapshot(file: string, snapshot: ReadModelSnapshot): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  const hash = createHash('sha256');
  let pending = '';
  const flush = async () => {
    const bytes = Buffer.from(pending);
    pending = '';
    hash.update(bytes);
    await handle.write(bytes);
  };
  try {
    const header: Header = { format: FORMAT, checkpoint: snapshot.checkpoint, collections: snapshot.collections.map((c) => c.name) };
    pending = `${JSON.stringify(header)}\n`;
    const seqs = snapshot.streams;
    for (const [id, seq] of seqs) {
      pending += `${JSON.stringify(['stream', id, seq])}\n`;
      if (pending.length >= CHUNK_BYTES) await flush();
    }
    let documents = 0;
    for (let ci = 0; ci < snapshot.collections.length; ci++) {
      const { ids, docs } = snapshot.collections[ci]!;
      for (let i = 0; i < ids.length; i++) {
        pending += `["doc",${ci},${JSON.stringify(ids[i])},${JSON.stringify(docs[i])}]\n`;
        if (pending.length >= CHUNK_BYTES) await flush();
      }
      documents += ids.length;
    }
    await flush();
    const trailer: Trailer = { end: { documents, streams: seqs.length, sha256: hash.digest('hex') } };
    await handle.write(`${JSON.stringify(trailer)}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    rmSync(tmp, { force: true });
    throw error;
  }
  await handle.close();
  renameSync(tmp, file);
}

/** The snapshot as read: each collection's documents by id, in a map of their own. */
export type LoadedSnapshot = { checkpoint: ProjectionCheckpoint; collections: Map<string, Map<string, Doc>> };

/**
 * The projection's snapshot in `dir`: undefined when there is none; an Error (not thrown) when the
 * file is there but not whole (no trailer, another hash, a line that does not parse): the caller then
 * builds the state from the log instead. Reads the file as a stream, line by line.
 */
export async function readReadModelSnapshot(dir: string, projection: string): Promise<LoadedSnapshot | Error | undefined> {
  const { file, legacy } = snapshotFiles(dir, projection);
  if (!existsSync(file)) return existsSync(legacy) ? readLegacy(legacy) : undefined;
  const hash = createHash('sha256');
  let header: Header | undefined;
  let trailer: Trailer | undefined;
  const streams: Record<string, number> = {};
  const collections = new Map<string, Map<string, Doc>>();
  let byIndex: Map<string, Doc>[] = [];
  let documents = 0;
  let streamCount = 0;
  const onLine = (text: string) => {
    if (trailer) throw new Error('lines after the trailer');
    if (!header) {
      header = JSON.parse(text) as Header;
      if (header.format !== FORMAT || !Array.isArray(header.collections)) throw new Error(`format ${String(header.format)}, expected ${FORMAT}`);
      byIndex = header.collections.map((name) => {
        const docs = new Map<string, Doc>();
        collections.set(name, docs);
        return docs;
      });
      return;
    }
    if (text.startsWith('{')) {
      trailer = JSON.parse(text) as Trailer;
      return;
    }
    const line = JSON.parse(text) as Line;
    if (line[0] === 'doc') {
      const docs = byIndex[line[1]];
      if (!docs) throw new Error(`a document of collection #${line[1]}, which the header does not name`);
      docs.set(line[2], line[3]);
      documents++;
    } else if (line[0] === 'stream') {
      streams[line[1]] = line[2];
      streamCount++;
    } else throw new Error('a line of unknown kind');
  };
  try {
    await forEachLine(file, hash, onLine);
  } catch (error) {
    return new Error(`snapshot ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!header || !trailer) return new Error(`snapshot ${file}: ends before its trailer`);
  const end = trailer.end;
  if (end.documents !== documents || end.streams !== streamCount || end.sha256 !== hash.digest('hex')) {
    return new Error(`snapshot ${file}: its trailer does not match its contents`);
  }
  return { checkpoint: { ...header.checkpoint, streams }, collections };
}

/** Calls `onLine` with each line of the file; every line but a trailer (`{...}` after the header) goes into the hash. */
async function forEachLine(file: string, hash: Hash, onLine: (text: string) => void): Promise<void> {
  let carry: Buffer | undefined;
  let first = true;
  const take = (line: Buffer) => {
    const text = line.toString('utf8');
    // The trailer is the only object line after the header; it is not part of what it hashes.
    if (first || text[0] !== '{') hash.update(line).update('\n');
    first = false;
    onLine(text);
  };
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    let start = 0;
    if (carry) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        carry = Buffer.concat([carry, chunk]);
        continue;
      }
      take(Buffer.concat([carry, chunk.subarray(0, nl)]));
      carry = undefined;
      start = nl + 1;
    }
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, nl));
      start = nl + 1;
    }
    if (start < chunk.length) carry = Buffer.from(chunk.subarray(start));
  }
  if (carry) throw new Error('its last line is cut short');
}

/** The layout before this one: the whole state as one JSON object (still read, never written). */
function readLegacy(file: string): LoadedSnapshot | Error {
  try {
    const snap = JSON.parse(readFileSync(file, 'utf8')) as { checkpoint: ProjectionCheckpoint; collections: Record<string, [string, Doc][]> };
    return { checkpoint: snap.checkpoint, collections: new Map(Object.entries(snap.collections).map(([name, entries]) => [name, new Map(entries)])) };
  } catch (error) {
    return new Error(`snapshot ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Removes the single-JSON snapshot once a snapshot in this layout is written. */
export function removeLegacySnapshot(dir: string, projection: string): void {
  rmSync(snapshotFiles(dir, projection).legacy, { force: true });
}
