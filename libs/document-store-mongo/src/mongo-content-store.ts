import { Binary, MongoClient, MongoServerError, type Collection } from 'mongodb';
import type { ContentStore } from '@opal/content-store';
import { unavailable } from './unavailable.js';

type StoredContent = { _id: string; bytes: Binary; size: number };

const DUPLICATE_KEY = 11000;

/**
 * Contribution bytes in MongoDB, one document per SHA-256 (`{_id: hash, bytes}`). Contributions are
 * small (well under the 16 MB document limit); a content-addressed document never changes, so a
 * second put of a known hash is a no-op.
 */
export class MongoContentStore implements ContentStore {
  private constructor(
    private readonly client: MongoClient,
    private readonly contents: Collection<StoredContent>,
    private readonly owned: boolean,
  ) {}

  static async connect(options: { url: string; client?: MongoClient; collection?: string }): Promise<MongoContentStore> {
    const selection = /[?&]serverSelectionTimeoutMS=/i.test(options.url) ? {} : { serverSelectionTimeoutMS: 10_000 };
    const client = options.client ?? new MongoClient(options.url, selection);
    if (!options.client) await client.connect();
    return new MongoContentStore(client, client.db().collection<StoredContent>(options.collection ?? '_content'), !options.client);
  }

  async put(contentHash: string, content: Uint8Array): Promise<void> {
    try {
      await this.contents.insertOne(
        { _id: key(contentHash), bytes: new Binary(content), size: content.byteLength },
        { writeConcern: { w: 'majority', j: true } },
      );
    } catch (error) {
      if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return;
      throw unavailable(error);
    }
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
