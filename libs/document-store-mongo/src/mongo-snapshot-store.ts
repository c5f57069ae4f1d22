import { Binary, MongoClient, type Collection } from 'mongodb';
import type { AggregateSnapshot, SnapshotStore } from '@opal/event-sourcing';
import { unavailable } from './unavailable.js';
import { DUPLICATE_KEY } from './bulk-write-errors.js';
import { connectMongo } from './mongo-client.js';

type StoredSnapshot = { _id: string; schema: number; streamVersion: number; hash: string; state: Binary };

/** A document holds at most 16 MiB: a larger state is not kept (its aggregate loads from the stream). */
const MAX_STATE_BYTES = 15 << 20;

/**
 * Aggregate snapshots in MongoDB, one document per stream (`_aggregate_snapshots`), shared by the
 * replicas of a service: one replica's snapshot shortens every replica's next load of that stream.
 */
export class MongoSnapshotStore implements SnapshotStore {
  private constructor(
    private readonly client: MongoClient,
    private readonly snapshots: Collection<StoredSnapshot>,
    private readonly owned: boolean,
  ) {}

  static async connect(options: { url: string; client?: MongoClient }): Promise<MongoSnapshotStore> {
    const client = options.client ?? (await connectMongo(options.url));
    return new MongoSnapshotStore(client, client.db().collection<StoredSnapshot>('_aggregate_snapshots'), !options.client);
  }

  async load(streamId: string): Promise<AggregateSnapshot | undefined> {
    try {
      const s = await this.snapshots.findOne({ _id: streamId });
      return s ? { schema: s.schema, streamVersion: s.streamVersion, hash: s.hash, state: new Uint8Array(s.state.buffer) } : undefined;
    } catch (error) {
      throw unavailable(error);
    }
  }

  async save(streamId: string, snapshot: AggregateSnapshot): Promise<void> {
    if (snapshot.state.byteLength > MAX_STATE_BYTES) return;
    const doc = { schema: snapshot.schema, streamVersion: snapshot.streamVersion, hash: snapshot.hash, state: new Binary(snapshot.state) };
    try {
      // Never back: a replica that loaded an older version of the stream keeps the newer snapshot.
      const newer = { _id: streamId, streamVersion: { $lt: snapshot.streamVersion } };
      if ((await this.snapshots.replaceOne(newer, doc)).matchedCount > 0) return;
      try {
        await this.snapshots.insertOne({ _id: streamId, ...doc });
      } catch (error) {
        if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
        // Another replica inserted the stream's first snapshot meanwhile: replace it if it is older.
        await this.snapshots.replaceOne(newer, doc);
      }
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.close();
  }
}

