import { Binary, MongoBulkWriteError, MongoClient, type Collection } from 'mongodb';
import type { ContentStore } from '@opal/content-store';
import { unavailable } from './unavailable.js';
import { connectMongo } from './mongo-client.js';

type StoredContent = { _id: string; bytes: Binary; size: number };

const DUPLICATE_KEY = 11000;
/** Bytes of content per insert command at most (the server takes up to 48 MB per message). */
const INSERT_BYTES = 8 << 20;

type Put = { readonly doc: StoredContent; resolve(): void; reject(error: unknown): void };

/**
 * Contribution bytes in MongoDB, one document per SHA-256 (`{_id: hash, bytes}`). Contributions are
 * small (well under the 16 MB document limit); a content-addressed document never changes, so a
 * second put of a known hash is a no-op. Puts go to the server in one insert command at a time:
 * those made while one is under way go together in the next (a client stream's contributions are
 * stored concurrently, and a command per contribution cost more than the insert itself).
 */
export class MongoContentStore implements ContentStore {
  private constructor(
    private readonly client: MongoClient,
    private readonly contents: Collection<StoredContent>,
    private readonly owned: boolean,
  ) {}

  static async connect(options: { url: string; client?: MongoClient; collection?: string }): Promise<MongoContentStore> {
    const client = options.client ?? (await connectMongo(options.url));
    return new MongoContentStore(client, client.db().collection<StoredContent>(options.collection ?? '_content'), !options.client);
  }

  private queued: Put[] = [];
  private inserting = false;

  put(contentHash: string, content: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ doc: { _id: key(contentHash), bytes: new Binary(content), size: content.byteLength }, resolve, reject });
      if (!this.inserting) void this.insertQueued();
    });
  }

  /** Inserts what is queued, a command at a time, until nothing is. */
  private async insertQueued(): Promise<void> {
    this.inserting = true;
    while (this.queued.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queued.length && (n === 0 || bytes + this.queued[n]!.doc.size <= INSERT_BYTES)) bytes += this.queued[n++]!.doc.size;
      const batch = this.queued.splice(0, n);
      try {
        await this.contents.insertMany(
          batch.map((p) => p.doc),
          { ordered: false, writeConcern: { w: 'majority', j: true } },
        );
        for (const p of batch) p.resolve();
      } catch (error) {
        // A hash already stored is not a failure; anything else fails that put alone, or all of
        // them when the command itself failed.
        const failed = new Map<number, unknown>();
        if (error instanceof MongoBulkWriteError && !error.writeConcernError) {
          const errors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
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
    try {
      const found = await this.contents.findOne({ _id: key(contentHash) });
      return found ? new Uint8Array(found.bytes.buffer) : undefined;
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.close();
  }
}

function key(contentHash: string): string {
  return (contentHash.startsWith('0x') ? contentHash.slice(2) : contentHash).toLowerCase();
}
