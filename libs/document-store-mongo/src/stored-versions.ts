import { MongoServerError, type Db } from 'mongodb';
import { checkpointOfVersion, CHECKPOINTS, collectionOfVersion, cursorOf, versionOfName, type StoredCheckpoint } from './stored-layout.js';

// What an operator sees and removes after an upgrade (`opal read-models`): the read models each
// version of a projection left in the database.

export type StoredVersion = {
  readonly version: number;
  /** Its collections that exist, by the name they are stored under. */
  readonly collections: readonly { readonly stored: string; readonly documents: number }[];
  /** Events its checkpoint counts as applied; undefined without a checkpoint. */
  readonly applied: number | undefined;
  /** Its checkpoint's cursor: per partition, the offset after the last event applied ({} without one). */
  readonly cursor: Readonly<Record<string, number>>;
};

const NAMESPACE_NOT_FOUND = 26;

/** A projection as `storedVersions` looks for it: its name and its collections' plain names. */
export type ProjectionNames = { readonly name: string; readonly collections: readonly string[] };

/**
 * The versions of each projection the database holds, lowest first, by projection name (one
 * listing of the collections and one read of the checkpoints for them all). Documents are counted
 * with tombstones, by `countDocuments` (FerretDB 1.24 drops the connection on
 * `estimatedDocumentCount`).
 */
export async function storedVersions(db: Db, projections: readonly ProjectionNames[]): Promise<Map<string, StoredVersion[]>> {
  const names = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  const checkpoints = await db.collection<StoredCheckpoint>(CHECKPOINTS).find({}).toArray();
  const out = new Map<string, StoredVersion[]>();
  for (const { name: projection, collections } of projections) {
    const versions = new Set<number>();
    const add = (v: number | undefined) => v !== undefined && versions.add(v);
    for (const c of collections) for (const n of names) add(versionOfName(n, c, '_v'));
    for (const cp of checkpoints) add(versionOfName(cp._id, projection, '@v'));
    const found: StoredVersion[] = [];
    for (const version of [...versions].sort((a, b) => a - b)) {
      const present = collections.map((c) => collectionOfVersion(c, version)).filter((n) => names.has(n));
      const counted = await Promise.all(present.map(async (stored) => ({ stored, documents: await db.collection(stored).countDocuments({}) })));
      const checkpoint = checkpoints.find((cp) => cp._id === checkpointOfVersion(projection, version));
      found.push({ version, collections: counted, applied: checkpoint?.applied, cursor: checkpoint ? cursorOf(checkpoint) : {} });
    }
    out.set(projection, found);
  }
  return out;
}

/** Drops one version's collections and checkpoint; what is already gone is skipped. */
export async function dropStoredVersion(db: Db, projection: string, collections: readonly string[], version: number): Promise<void> {
  for (const c of collections) {
    await db
      .collection(collectionOfVersion(c, version))
      .drop()
      .catch((error: unknown) => {
        if (!(error instanceof MongoServerError && error.code === NAMESPACE_NOT_FOUND)) throw error;
      });
  }
  await db.collection<StoredCheckpoint>(CHECKPOINTS).deleteOne({ _id: checkpointOfVersion(projection, version) });
}
