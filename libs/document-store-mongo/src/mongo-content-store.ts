import { Binary, MongoClient, type Collection } from 'mongodb';
import { DUPLICATE_KEY, writeErrorsOf } from './bulk-write-errors.js';
import type { ContentStore } from '@opal/content-store';
import { unavailable } from './unavailable.js';
import { connectMongo } from './mongo-client.js';

/** A content: its bytes inline, or (past INLINE_BYTES) the number of its chunks. */
type StoredContent = { _id: string; size: number; bytes?: Binary; chunks?: number };
/** One piece of a large content: `<hash>/<i>`. */
type StoredChunk = { _id: string; bytes: Binary };

/** Bytes of content per insert command at most (the server takes up to 48 MB per message). */
const INSERT_BYTES = 8 << 20;
/**
 * Contents up to this size are one document. Larger ones (a Datanet may take items of up to
 * 16 MiB, and a document holds at most 16 MiB with its other fields) go in chunks of CHUNK_BYTES.
 */
const INLINE_BYTES = 8 << 20;
const CHUNK_BYTES = 4 << 20;
const DURABLE = { w: 'majority', j: true } as const;
/** Contents a read asks for in one command: 64 KB at 1 KB each, 512 MB at the largest inline size. */
const READ_BATCH = 64;

type Put = { readonly doc: StoredContent; resolve(): void; reject(error: unknown): void };

/**
 * Contribution bytes in MongoDB, one document per SHA-256 (`{_id: hash, bytes, size}`), in the
 * collection `_content`. A content past INLINE_BYTES is cut into chunks of CHUNK_BYTES in
 * `_content_chunks` (`{_id: hash/i, bytes}`), written first, and its document (`{_id: hash, size,
 * chunks}`) last: a reader never finds a content whose chunks are not all there. A content-addressed
 * document never changes, so a second put of a known hash, or of a chunk, is a no-op, and two
 * processes putting the same content at once both succeed. Puts go to the server in one insert
 * command at a time: those made while one is under way go together in the next (a client stream's
 * contributions are stored concurrently, and a command per contribution cost more than the insert
 * itself).
 */
export class MongoContentStore implements ContentStore {
  private constructor(
    private readonly client: MongoClient,
    private readonly contents: Collection<StoredContent>,
    private readonly chunks: Collection<StoredChunk>,
    private readonly owned: boolean,
  ) {}

  static async connect(options: { url: string; client?: MongoClient; collection?: string }): Promise<MongoContentStore> {
    const client = options.client ?? (await connectMongo(options.url));
    const name = options.collection ?? '_content';
    return new MongoContentStore(client, client.db().collection<StoredContent>(name), client.db().collection<StoredChunk>(`${name}_chunks`), !options.client);
  }

  private queued: Put[] = [];
  private inserting = false;

  async put(contentHash: string, content: Uint8Array): Promise<void> {
    const id = key(contentHash);
    if (content.byteLength <= INLINE_BYTES) return this.enqueue({ _id: id, bytes: new Binary(content), size: content.byteLength });
    const count = Math.ceil(content.byteLength / CHUNK_BYTES);
    const pieces = Array.from({ length: count }, (_, i) => ({ _id: `${id}/${i}`, bytes: new Binary(content.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)) }));
    for (let i = 0; i < pieces.length; i += INSERT_BYTES / CHUNK_BYTES) {
      try {
        await this.chunks.insertMany(pieces.slice(i, i + INSERT_BYTES / CHUNK_BYTES), { ordered: false, writeConcern: DURABLE });
      } catch (error) {
        // A chunk already stored (the same content put before, or at once elsewhere) is the same bytes.
        const errors = writeErrorsOf(error);
        if (!errors || errors.some((e) => e.code !== DUPLICATE_KEY)) throw unavailable(error);
      }
    }
    return this.enqueue({ _id: id, size: content.byteLength, chunks: count });
  }

  private enqueue(doc: StoredContent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ doc, resolve, reject });
      if (!this.inserting) void this.insertQueued();
    });
  }

  /** Inserts what is queued, a command at a time, until nothing is. */
  private async insertQueued(): Promise<void> {
    this.inserting = true;
    while (this.queued.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queued.length && (n === 0 || bytes + inlineBytes(this.queued[n]!.doc) <= INSERT_BYTES)) bytes += inlineBytes(this.queued[n++]!.doc);
      const batch = this.queued.splice(0, n);
      try {
        await this.contents.insertMany(
          batch.map((p) => p.doc),
          { ordered: false, writeConcern: DURABLE },
        );
        for (const p of batch) p.resolve();
      } catch (error) {
        // A hash already stored is not a failure; anything else fails that put alone, or all of
        // them when the command itself failed.
        const failed = new Map<number, unknown>();
        const errors = writeErrorsOf(error);
        if (errors) {
          for (const e of errors) if (e.code !== DUPLICATE_KEY) failed.set(e.index, new Error(`content ${batch[e.index]?.doc._id}: ${e.errmsg ?? `code ${e.code}`}`));
          batch.forEach((p, i) => (failed.has(i) ? p.reject(failed.get(i)) : p.resolve()));
        } else {
          for (const p of batch) p.reject(unavailable(error));
        }
      }
    }
    this.inserting = false;
  }

  /** Content by hash; the server away for now is a TransientError (an index build waits it out). */
  async get(contentHash: string): Promise<Uint8Array | undefined> {
    return (await this.getMany([contentHash])).get(contentHash);
  }

  /** Contents by hash, READ_BATCH documents a command; a chunked one's chunks after. */
  async getMany(contentHashes: readonly string[]): Promise<Map<string, Uint8Array>> {
    try {
      const keys = [...new Set(contentHashes.map(key))];
      const found = new Map<string, StoredContent>();
      for (let i = 0; i < keys.length; i += READ_BATCH) {
        const ids = keys.slice(i, i + READ_BATCH);
        // The whole answer in one reply: FerretDB holds an unfinished cursor's rows open.
        for (const c of await this.contents.find({ _id: { $in: ids } }, { batchSize: ids.length + 1 }).toArray()) found.set(c._id, c);
      }
      const out = new Map<string, Uint8Array>();
      for (const h of contentHashes) {
        const c = found.get(key(h));
        if (c) out.set(h, c.bytes ? new Uint8Array(c.bytes.buffer) : await this.assemble(c));
      }
      return out;
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** A chunked content's bytes, its chunks read a command's worth at a time. */
  private async assemble(head: StoredContent): Promise<Uint8Array> {
    const out = new Uint8Array(head.size);
    const count = head.chunks ?? 0;
    const perRead = INSERT_BYTES / CHUNK_BYTES;
    for (let first = 0; first < count; first += perRead) {
      const ids = Array.from({ length: Math.min(perRead, count - first) }, (_, k) => `${head._id}/${first + k}`);
      const found = new Map((await this.chunks.find({ _id: { $in: ids } }).toArray()).map((c) => [c._id, c.bytes.buffer]));
      ids.forEach((id, k) => {
        const bytes = found.get(id);
        const at = (first + k) * CHUNK_BYTES;
        const expected = Math.min(CHUNK_BYTES, head.size - at);
        if (!bytes || bytes.byteLength !== expected) throw new Error(`content ${head._id}: chunk ${first + k} of ${count} is ${bytes ? `${bytes.byteLength} bytes, not ${expected}` : 'missing'}`);
        out.set(bytes, at);
      });
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.close();
  }
}

/** What a content document weighs in an insert command. */
function inlineBytes(doc: StoredContent): number {
  return doc.bytes ? doc.size : 64;
}

function key(contentHash: string): string {
  return (contentHash.startsWith('0x') ? contentHash.slice(2) : contentHash).toLowerCase();
}
