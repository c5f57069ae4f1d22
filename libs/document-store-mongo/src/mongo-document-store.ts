import { MongoClient, type AnyBulkWriteOperation, type Db, type Filter } from 'mongodb';
import { CheckpointWriter } from './checkpoint-writer.js';
import { writeInLanes, type CollectionWrites } from './write-lanes.js';
import { afterFilter, checkpointOfVersion, listFilter, CHECKPOINTS, collectionOfVersion, cursorOf, decodeGuard, encodeGuard, LIVE, sortedIndex, stored, VISIBLE, visible, type Stored, type StoredCheckpoint } from './stored-layout.js';
import { dropStoredVersion, storedVersions, type ProjectionNames, type StoredVersion } from './stored-versions.js';
import { unavailable } from './unavailable.js';
import { digestCollection } from './collection-digest.js';
import { connectMongo } from './mongo-client.js';
import {
  DocumentConflictError,
  type CollectionSpec,
  type Doc,
  type DocumentStore,
  type DocWrite,
  type FindQuery,
  type GuardedDoc,
  type GuardedWrite,
  type ProjectionCheckpoint,
} from '@opal/event-sourcing';

/** A guarded document as this process last read or wrote it, with its stored guard string. */
type Known = GuardedDoc & { readonly raw: string | undefined };

const READ_CHUNK = 1000;
/** Guarded documents remembered per collection between batches; past this the collection's are dropped. */
const CACHE_LIMIT = 100_000;
/** Unseen documents a read must find none of before a collection's unseen documents are taken as new. */
const ASSUME_NEW_AFTER = 100;
/** Tries of an unguarded commit that keeps meeting concurrent writers. */
const COMMIT_ATTEMPTS = 20;
/** Documents per query of a digest: its memory stays bounded whatever the collection's size. */
const DIGEST_PAGE = 100_000;

export type MongoDocumentStoreOptions = {
  /** mongodb://host:port/db; the database named in the URL holds the read models. */
  readonly url: string;
  readonly client?: MongoClient;
  /** Documents per query when computing a digest (default 100,000; see digest). */
  readonly digestPage?: number;
};

/**
 * Read models in MongoDB (FerretDB 1.x works: no transactions or change streams needed). Each batch
 * is one unordered bulk write per collection guarded per document (see DocGuard), then the
 * checkpoint, last; so a crash anywhere in between leaves nothing that a redelivery would apply twice.
 */
export class MongoDocumentStore implements DocumentStore {
  /**
   * What this process last read or wrote of each guarded document, so a batch reads only the
   * documents it has not seen. Safe because every guarded write is conditional on the revision:
   * a document another process changed since makes the write conflict, and the collection's
   * entries are dropped before the runner reads again.
   */
  private readonly guarded = new Map<string, Map<string, Known>>();
  /**
   * Collections whose documents this process has not seen are taken as new without a read: those
   * where the last read of such documents found none of at least ASSUME_NEW_AFTER (a collection
   * that gains a document per event, such as one per contribution). A wrong guess is safe: the
   * insert meets the existing document, the batch conflicts and is redone, and the collection is
   * read again until a read finds nothing. An event that leaves a document taken as absent as it
   * was writes nothing to conflict, so the runner reads such documents `fresh` (evolveGuarded).
   */
  private readonly assumeNew = new Set<string>();
  /**
   * Where a projection of a version past 1 keeps its documents and checkpoint: names of their own
   * (`<collection>_v<n>`, checkpoint `<projection>@v<n>`), so the processes still running the
   * version before (a rolling upgrade, a rollback) keep theirs while this one builds its own from
   * offset zero. Version 1 keeps the plain names. Callers always name collections plainly.
   */
  private readonly physical = new Map<string, string>();
  private readonly checkpointIds = new Map<string, string>();
  private readonly checkpoints = new CheckpointWriter(() => this.db.collection<StoredCheckpoint>(CHECKPOINTS));

  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    private readonly owned: boolean,
    private readonly digestPage: number,
  ) {}

  static async connect(options: MongoDocumentStoreOptions): Promise<MongoDocumentStore> {
    const page = options.digestPage ?? DIGEST_PAGE;
    if (!Number.isSafeInteger(page) || page < 1) throw new RangeError(`digestPage: ${page} is not a positive integer`);
    const client = options.client ?? (await connectMongo(options.url));
    return new MongoDocumentStore(client, client.db(), !options.client, page);
  }

  /**
   * Runs a call to the server; a driver error that says the server is away for now (a restart, a
   * failover, the network) comes out as TransientError, so a projection waits the outage out
   * instead of taking its events for poison.
   */
  private async available<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw unavailable(error);
    }
  }

  private coll(name: string) {
    return this.db.collection<Stored>(this.physical.get(name) ?? name);
  }

  private checkpointId(projection: string): string {
    return this.checkpointIds.get(projection) ?? projection;
  }

  async prepare(projection: string, collections: readonly CollectionSpec[], version = 1): Promise<void> {
    if (!Number.isSafeInteger(version) || version < 1) throw new RangeError(`projection ${projection}: version ${version} is not a positive integer`);
    for (const spec of collections) {
      this.physical.set(spec.name, collectionOfVersion(spec.name, version));
      // What this process remembers was read under the name before.
      this.guarded.delete(spec.name);
      this.assumeNew.delete(spec.name);
    }
    this.checkpointIds.set(projection, checkpointOfVersion(projection, version));
    return this.available(async () => {
      for (const spec of collections) {
        const c = this.coll(spec.name);
        // Documents under `doc` with `_applied`/`_rev` are this store's earlier layout: refuse them
        // rather than read them as empty documents (read models rebuild from the log).
        const any = await c.findOne({}, { projection: { _g: 1, _rev: 1 } });
        if (any && any._g === undefined && '_rev' in any) {
          throw new Error(`collection ${spec.name}: holds read models in an earlier layout; drop them (opal replay rebuilds from the log)`);
        }
        for (const field of spec.indexes) {
          const order = spec.sorted?.[field];
          if (!order) {
            await c.createIndex({ [field]: 1 }, { name: field });
            continue;
          }
          const { key, name } = sortedIndex(field, order);
          await c.createIndex(key, { name });
          // The field's own index, from before it was sorted: the new one's prefix serves its queries.
          await c.dropIndex(field).catch((error: unknown) => {
            if ((error as { codeName?: string }).codeName !== 'IndexNotFound') throw error;
          });
        }
      }
    });
  }

  async loadCheckpoint(projection: string): Promise<ProjectionCheckpoint | undefined> {
    return this.available(async () => {
      const c = await this.checkpoints.load(this.checkpointId(projection));
      return c ? { cursor: cursorOf(c), streams: {}, applied: c.applied, version: c.version ?? 1 } : undefined;
    });
  }

  /**
   * A read for queries: from the server, not from the documents this process remembers for its
   * guarded writes. Those may be stale (another process wrote since) or remembered as absent (looked
   * for before another process created them), and a query must not see either.
   */
  async getMany(collection: string, ids: readonly string[]): Promise<Map<string, Doc>> {
    return this.available(async () => {
      const out = new Map<string, Doc>();
      for (let i = 0; i < ids.length; i += READ_CHUNK) {
        const chunk = ids.slice(i, i + READ_CHUNK);
        // One reply per query (see getGuarded).
        const found = await this.coll(collection).find({ _id: { $in: chunk }, ...LIVE } as Filter<Stored>, { projection: VISIBLE, batchSize: chunk.length + 1 }).toArray();
        for (const s of found) out.set(s._id, visible(s));
      }
      return out;
    });
  }

  async getGuarded(collection: string, ids: readonly string[], options: { fresh?: boolean } = {}): Promise<Map<string, GuardedDoc>> {
    return this.available(async () => {
      const out = new Map<string, GuardedDoc>();
      const known = this.cacheOf(collection);
      // Forgotten before this read, not after: a write needs the guards of what it read. Documents
      // forgotten are unseen again but not new, so the collection is read again too.
      if (known.size > CACHE_LIMIT) {
        known.clear();
        this.assumeNew.delete(collection);
      }
      const missing: string[] = [];
      for (const id of ids) {
        const g = options.fresh ? undefined : known.get(id);
        if (g === undefined) missing.push(id);
        else if (g.raw !== undefined) out.set(id, g);
      }
      const read = this.assumeNew.has(collection) && !options.fresh ? 0 : missing.length;
      let found = 0;
      for (let i = 0; i < read; i += READ_CHUNK) {
        const chunk = missing.slice(i, i + READ_CHUNK);
        // One reply per query: FerretDB 1.x keeps an unfinished cursor's SQLite rows open, and a cursor
        // abandoned by a killed process then blocks writers to that database for good.
        for (const s of await this.coll(collection).find({ _id: { $in: chunk } }, { batchSize: chunk.length + 1 }).toArray()) {
          const g: Known = { doc: s._deleted ? null : visible(s), guard: decodeGuard(s._g), raw: s._g };
          known.set(s._id, g);
          out.set(s._id, g);
          found++;
        }
      }
      if (read >= ASSUME_NEW_AFTER && found === 0 && !options.fresh) this.assumeNew.add(collection);
      // Absent documents (and those taken as new) are remembered as such (revision 0): writing one is
      // an insert, which conflicts if the document exists after all.
      for (const id of missing) if (!out.has(id)) known.set(id, ABSENT);
      return out;
    });
  }

  private cacheOf(collection: string): Map<string, Known> {
    let m = this.guarded.get(collection);
    if (!m) this.guarded.set(collection, (m = new Map()));
    return m;
  }

  async get(collection: string, id: string): Promise<Doc | undefined> {
    return this.available(async () => {
      const s = await this.coll(collection).findOne({ _id: id }, { projection: { _g: 0 } });
      return s && !s._deleted ? visible(s) : undefined;
    });
  }

  async find(collection: string, query: FindQuery): Promise<{ items: Doc[]; total: number }> {
    return this.available(async () => {
      const filter = listFilter(query);
      const [items, total] = await Promise.all([this.page(collection, filter, query), this.coll(collection).countDocuments(filter as Filter<Stored>)]);
      return { items, total };
    });
  }

  async list(collection: string, query: FindQuery): Promise<Doc[]> {
    return this.available(() => this.page(collection, listFilter(query), query));
  }

  /** The page of the list of `filter` that the query asks for. */
  private async page(collection: string, filter: Record<string, unknown>, query: FindQuery): Promise<Doc[]> {
    const sort: Record<string, 1 | -1> = {};
    for (const s of query.sort ?? []) sort[s.field] = s.order === 'asc' ? 1 : -1;
    sort._id = 1;
    const skip = query.after ? 0 : (query.offset ?? 0);
    // The place's `$or` next to the equalities, not both under an `$and`: FerretDB narrows a query
    // through an index only by the equalities at its top level (MongoDB plans either alike).
    const page = query.after ? { ...filter, ...afterFilter(query.sort ?? [], query.after) } : filter;
    let cursor = this.coll(collection).find(page as Filter<Stored>, { projection: VISIBLE, batchSize: skip + (query.limit ?? 100_000) + 1 }).sort(sort).skip(skip);
    if (query.limit) cursor = cursor.limit(query.limit);
    return (await cursor.toArray()).map(visible);
  }

  /**
   * Unguarded writes (callers that do not read guards): last writer wins per document. Each write
   * still moves the document's revision on, through the guarded path, so a guarded writer that read
   * it before conflicts instead of overwriting it.
   */
  async commit(projection: string, writes: readonly DocWrite[], checkpoint: ProjectionCheckpoint): Promise<void> {
    return this.available(async () => {
      for (const [collection, all] of group(writes)) {
        const latest = new Map(all.map((w) => [w.id, w])); // the last write of a document wins
        for (let attempt = 1; ; attempt++) {
          const found = await this.getGuarded(collection, [...latest.keys()]);
          const guarded = [...latest.values()].map((w): GuardedWrite => {
            const g = found.get(w.id)?.guard;
            return { ...w, guard: { applied: g?.applied ?? {}, rev: (g?.rev ?? 0) + 1 }, expectedRev: g?.rev ?? 0 };
          });
          try {
            await this.writeGuarded(guarded);
            break;
          } catch (error) {
            if (!(error instanceof DocumentConflictError) || attempt >= COMMIT_ATTEMPTS) throw error;
          }
        }
      }
      await this.saveCheckpoint(projection, checkpoint);
    });
  }

  async commitGuarded(projection: string, writes: readonly GuardedWrite[], checkpoint: ProjectionCheckpoint): Promise<void> {
    return this.available(async () => {
      await this.writeGuarded(writes);
      await this.saveCheckpoint(projection, checkpoint);
    });
  }

  /** Each write lands only if the document is still as it was read; throws DocumentConflictError if any was not. */
  private async writeGuarded(writes: readonly GuardedWrite[]): Promise<void> {
    const groups = [...group(writes)].map(([collection, ops]) => ({ collection, ops, raws: ops.map((w) => encodeGuard(w.guard)), unread: 0 }));
    const commands: CollectionWrites[] = groups.map((g) => {
      const known = this.cacheOf(g.collection);
      const inserts: AnyBulkWriteOperation<Stored>[] = [];
      const replaces: AnyBulkWriteOperation<Stored>[] = [];
      g.ops.forEach((w, i) => {
        const document = stored(w, g.raws[i]!);
        if (w.expectedRev === 0) {
          inserts.push({ insertOne: { document } });
          return;
        }
        const before = known.get(w.id);
        // Only a document read through getGuarded can be replaced; anything else is a conflict.
        if (before?.raw === undefined || before.guard.rev !== w.expectedRev) {
          g.unread++;
          return;
        }
        const { _id, ...replacement } = document;
        replaces.push({ replaceOne: { filter: { _id, _g: before.raw }, replacement: replacement as Stored } });
      });
      return { collection: this.coll(g.collection), inserts, replaces };
    });
    const { outcomes, failure } = await writeInLanes(commands);
    let conflicts = 0;
    groups.forEach((g, i) => {
      const outcome = outcomes[i]!;
      conflicts += g.unread + outcome.conflicts;
      // What this process remembers of a collection is only trusted after a clean write, and not
      // after a batch some command of which failed: the retry reads what the server holds.
      if (g.unread + outcome.conflicts > 0 || outcome.failed || failure !== undefined) {
        this.guarded.delete(g.collection);
        this.assumeNew.delete(g.collection);
      } else {
        const known = this.cacheOf(g.collection);
        g.ops.forEach((w, k) => known.set(w.id, { doc: w.doc, guard: w.guard, raw: g.raws[k] }));
      }
    });
    if (failure !== undefined) throw failure;
    // The documents that did land carry their guard; the retry skips what they have applied.
    if (conflicts > 0) throw new DocumentConflictError(`${conflicts} document(s) changed by another writer`);
  }

  /**
   * Stores the checkpoint after the batch's documents. Several processes share a projection, each
   * with some partitions: each partition's offset only ever moves forward (CheckpointWriter), so the
   * stored cursor is, per partition, the furthest any of them has applied, which a process given that
   * partition resumes from (ProjectionRunner's `resume`).
   */
  private saveCheckpoint(projection: string, checkpoint: ProjectionCheckpoint): Promise<void> {
    return this.checkpoints.save(this.checkpointId(projection), checkpoint);
  }

  async reset(projection: string, collections: readonly string[]): Promise<void> {
    return this.available(async () => {
      for (const name of collections) {
        this.guarded.delete(name);
        this.assumeNew.delete(name);
        await this.coll(name).deleteMany({});
      }
      this.checkpoints.forget(this.checkpointId(projection));
      await this.db.collection<StoredCheckpoint>(CHECKPOINTS).deleteOne({ _id: this.checkpointId(projection) });
    });
  }

  /** SHA-256 over every live document in id order, as MemoryDocumentStore's (see digestCollection). */
  async digest(collection: string): Promise<{ digest: string; documents: number }> {
    return this.available(() => digestCollection(this.coll(collection), this.digestPage));
  }

  /**
   * The versions of each of these projections this database holds, lowest first: each with its
   * collections as stored (documents counted with tombstones) and its checkpoint's count of applied
   * events. For operators after an upgrade (`opal read-models`); the store's own calls never need it.
   */
  async storedVersions(projections: readonly ProjectionNames[]): Promise<Map<string, StoredVersion[]>> {
    return this.available(() => storedVersions(this.db, projections));
  }

  /** Drops one version's collections and checkpoint; a version this process uses is refused. */
  async dropVersion(projection: string, collections: readonly string[], version: number): Promise<void> {
    const used = collections.some((c) => this.physical.get(c) === collectionOfVersion(c, version));
    if (used) throw new Error(`projection ${projection}: version ${version} is the one this process uses`);
    return this.available(() => dropStoredVersion(this.db, projection, collections, version));
  }

  /** Drops the whole database (tests, and `opal replay` into a scratch database). */
  async dropDatabase(): Promise<void> {
    this.guarded.clear();
    this.assumeNew.clear();
    await this.db.dropDatabase();
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.close();
  }
}

function group<W extends DocWrite>(writes: readonly W[]): Map<string, W[]> {
  const out = new Map<string, W[]>();
  for (const w of writes) {
    let list = out.get(w.collection);
    if (!list) out.set(w.collection, (list = []));
    list.push(w);
  }
  return out;
}

const ABSENT: Known = { doc: null, guard: { applied: {}, rev: 0 }, raw: undefined };
