import { createHash } from 'node:crypto';
import { MongoBulkWriteError, MongoClient, MongoServerError, type AnyBulkWriteOperation, type Db, type Filter } from 'mongodb';
import {
  canonicalJson,
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

/**
 * How a read-model document is stored: the document itself under `doc` (null: a tombstone that
 * keeps its guard), and the hidden guard. Partition keys contain dots, which MongoDB field names
 * must not, so `_applied` is a list of {p: partition, o: offset} (FerretDB 1.x also refuses
 * nested arrays, so not pairs).
 */
type Offsets = { p: string; o: number }[];
type Stored = { _id: string; doc: Doc | null; _applied: Offsets; _rev: number };
type StoredCheckpoint = { _id: string; cursor: Offsets; applied: number };

const CHECKPOINTS = '_checkpoints';
const DUPLICATE_KEY = 11000;
const READ_CHUNK = 1000;
const UPDATE_CHUNK = 16;
/** Documents per insert command, so a large batch's inserts run in several lanes. */
const INSERT_CHUNK = 2000;
/** Write commands in flight at once, on disjoint documents (FerretDB's pool holds 100 statements). */
const WRITE_LANES = 4;
/** Guarded documents remembered per collection between batches; past this the collection's are dropped. */
const CACHE_LIMIT = 100_000;

export type MongoDocumentStoreOptions = {
  /** mongodb://host:port/db; the database named in the URL holds the read models. */
  readonly url: string;
  readonly client?: MongoClient;
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
  private readonly guarded = new Map<string, Map<string, GuardedDoc>>();

  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    private readonly owned: boolean,
  ) {}

  static async connect(options: MongoDocumentStoreOptions): Promise<MongoDocumentStore> {
    const client = options.client ?? new MongoClient(options.url, { ignoreUndefined: true, serverSelectionTimeoutMS: 10_000 });
    if (!options.client) await client.connect();
    return new MongoDocumentStore(client, client.db(), !options.client);
  }

  private coll(name: string) {
    return this.db.collection<Stored>(name);
  }

  async prepare(_projection: string, collections: readonly CollectionSpec[]): Promise<void> {
    for (const spec of collections) {
      const c = this.coll(spec.name);
      for (const field of spec.indexes) await c.createIndex({ [`doc.${field}`]: 1 }, { name: `doc.${field}` });
    }
  }

  async loadCheckpoint(projection: string): Promise<ProjectionCheckpoint | undefined> {
    const c = await this.db.collection<StoredCheckpoint>(CHECKPOINTS).findOne({ _id: projection });
    return c ? { cursor: fromOffsets(c.cursor), streams: {}, applied: c.applied } : undefined;
  }

  async getMany(collection: string, ids: readonly string[]): Promise<Map<string, Doc>> {
    const out = new Map<string, Doc>();
    for (const [id, g] of await this.getGuarded(collection, ids)) if (g.doc) out.set(id, g.doc);
    return out;
  }

  async getGuarded(collection: string, ids: readonly string[]): Promise<Map<string, GuardedDoc>> {
    const out = new Map<string, GuardedDoc>();
    const known = this.cacheOf(collection);
    const missing: string[] = [];
    for (const id of ids) {
      const g = known.get(id);
      if (g === undefined) missing.push(id);
      else if (g.guard.rev > 0) out.set(id, g);
    }
    for (let i = 0; i < missing.length; i += READ_CHUNK) {
      const chunk = missing.slice(i, i + READ_CHUNK);
      // One reply per query: FerretDB 1.x keeps an unfinished cursor's SQLite rows open, and a cursor
      // abandoned by a killed process then blocks writers to that database for good.
      for (const s of await this.coll(collection).find({ _id: { $in: chunk } }, { batchSize: chunk.length + 1 }).toArray()) {
        out.set(s._id, { doc: s.doc, guard: { applied: fromOffsets(s._applied), rev: s._rev ?? 0 } });
      }
    }
    // Absent documents are remembered as revision 0: writing one is an insert, which conflicts too.
    for (const id of missing) known.set(id, out.get(id) ?? ABSENT);
    if (known.size > CACHE_LIMIT) known.clear();
    return out;
  }

  private cacheOf(collection: string): Map<string, GuardedDoc> {
    let m = this.guarded.get(collection);
    if (!m) this.guarded.set(collection, (m = new Map()));
    return m;
  }

  async get(collection: string, id: string): Promise<Doc | undefined> {
    const s = await this.coll(collection).findOne({ _id: id }, { projection: { doc: 1 } });
    return s?.doc ?? undefined;
  }

  async find(collection: string, query: FindQuery): Promise<{ items: Doc[]; total: number }> {
    const filter: Record<string, unknown> = { doc: { $ne: null } };
    for (const [f, v] of Object.entries(query.where ?? {})) filter[`doc.${f}`] = v;
    const sort: Record<string, 1 | -1> = {};
    for (const s of query.sort ?? []) sort[`doc.${s.field}`] = s.order === 'asc' ? 1 : -1;
    sort._id = 1;
    const c = this.coll(collection);
    let cursor = c.find(filter as Filter<Stored>, { projection: { doc: 1 }, batchSize: (query.offset ?? 0) + (query.limit ?? 100_000) + 1 }).sort(sort).skip(query.offset ?? 0);
    if (query.limit) cursor = cursor.limit(query.limit);
    const [items, total] = await Promise.all([cursor.toArray(), c.countDocuments(filter as Filter<Stored>)]);
    return { items: items.map((s) => s.doc!), total };
  }

  /** Unguarded writes (callers that do not read guards): last writer wins per document. */
  async commit(projection: string, writes: readonly DocWrite[], checkpoint: ProjectionCheckpoint): Promise<void> {
    for (const [collection, all] of group(writes)) {
      for (let i = 0; i < all.length; i += UPDATE_CHUNK) {
        const ops = all.slice(i, i + UPDATE_CHUNK);
        await this.coll(collection).bulkWrite(
          ops.map((w) => ({ updateOne: { filter: { _id: w.id }, update: { $set: { doc: w.doc }, $inc: { _rev: 1 } }, upsert: true } })),
          { ordered: false },
        );
      }
    }
    await this.saveCheckpoint(projection, checkpoint);
  }

  async commitGuarded(projection: string, writes: readonly GuardedWrite[], checkpoint: ProjectionCheckpoint): Promise<void> {
    // Every collection's commands go through one queue of lanes: the server parses one command
    // while it writes another, instead of waiting for a collection to finish before the next starts.
    const groups = [...group(writes)].map(([collection, ops]) => ({ collection, ops, conflicts: 0, failed: false }));
    const queue: { g: (typeof groups)[number]; bulk: AnyBulkWriteOperation<Stored>[] }[] = [];
    for (const g of groups) {
      const inserts = g.ops.filter((w) => w.expectedRev === 0).map((w) => ({ insertOne: { document: stored(w) } }));
      const replaces = g.ops
        .filter((w) => w.expectedRev !== 0)
        .map((w) => {
          const { _id, ...replacement } = stored(w);
          return { replaceOne: { filter: { _id, _rev: w.expectedRev }, replacement: replacement as Stored } };
        });
      for (let i = 0; i < inserts.length; i += INSERT_CHUNK) queue.push({ g, bulk: inserts.slice(i, i + INSERT_CHUNK) });
      // FerretDB 1.24 (SQLite) holds every statement's rows open until an update command ends and
      // deadlocks its connection pool past ~100: small update commands, a few lanes at once.
      for (let i = 0; i < replaces.length; i += UPDATE_CHUNK) queue.push({ g, bulk: replaces.slice(i, i + UPDATE_CHUNK) });
    }
    const lane = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { g, bulk } = next;
        const expectMatched = 'replaceOne' in bulk[0]! ? bulk.length : 0;
        try {
          const r = await this.coll(g.collection).bulkWrite(bulk, { ordered: false });
          g.conflicts += expectMatched - r.matchedCount;
        } catch (error) {
          const errors = error instanceof MongoBulkWriteError ? (Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors]) : [];
          if (!(error instanceof MongoBulkWriteError) || errors.some((e) => e.code !== DUPLICATE_KEY)) {
            g.failed = true;
            throw error;
          }
          g.conflicts += errors.length + (expectMatched - error.result.matchedCount);
        }
      }
    };
    const done = await Promise.allSettled(Array.from({ length: Math.min(WRITE_LANES, queue.length) }, lane));
    let conflicts = 0;
    for (const g of groups) {
      conflicts += g.conflicts;
      // What this process remembers of a collection is only trusted after a clean write.
      if (g.conflicts > 0 || g.failed) this.guarded.delete(g.collection);
      else {
        const known = this.cacheOf(g.collection);
        for (const w of g.ops) known.set(w.id, { doc: w.doc, guard: w.guard });
      }
    }
    const failure = done.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
    // The documents that did land carry their guard; the retry skips what they have applied.
    if (conflicts > 0) throw new DocumentConflictError(`${conflicts} document(s) changed by another writer`);
    await this.saveCheckpoint(projection, checkpoint);
  }

  private async saveCheckpoint(projection: string, checkpoint: ProjectionCheckpoint): Promise<void> {
    const replace = () =>
      this.db
        .collection<StoredCheckpoint>(CHECKPOINTS)
        .replaceOne({ _id: projection }, { cursor: toOffsets(checkpoint.cursor), applied: checkpoint.applied }, { upsert: true });
    try {
      await replace();
    } catch (error) {
      // Two members inserting the first checkpoint at once: the loser's upsert now finds it.
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
      await replace();
    }
  }

  async reset(projection: string, collections: readonly string[]): Promise<void> {
    for (const name of collections) {
      this.guarded.delete(name);
      await this.coll(name).deleteMany({});
    }
    await this.db.collection<StoredCheckpoint>(CHECKPOINTS).deleteOne({ _id: projection });
  }

  async digest(collection: string): Promise<{ digest: string; documents: number }> {
    const docs = await this.coll(collection).find({ doc: { $ne: null } }, { projection: { doc: 1 }, batchSize: 1_000_000 }).toArray();
    // Sorted here, not by the server: JavaScript's string order is what the memory store uses.
    docs.sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    const h = createHash('sha256');
    for (const s of docs) h.update(`${JSON.stringify(s._id)}:${canonicalJson(s.doc)}\n`);
    return { digest: h.digest('hex'), documents: docs.length };
  }

  /** Drops the whole database (tests, and `opal replay` into a scratch database). */
  async dropDatabase(): Promise<void> {
    this.guarded.clear();
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

const toOffsets = (m: Readonly<Record<string, number>>): Offsets => Object.entries(m).map(([p, o]) => ({ p, o }));
const fromOffsets = (list: Offsets | undefined): Record<string, number> => Object.fromEntries((list ?? []).map((x) => [x.p, x.o]));

const ABSENT: GuardedDoc = { doc: null, guard: { applied: {}, rev: 0 } };

const stored = (w: GuardedWrite): Stored => ({ _id: w.id, doc: w.doc, _applied: toOffsets(w.guard.applied), _rev: w.guard.rev });
