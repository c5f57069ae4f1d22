import { mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { CollectionSpec, Doc, DocumentStore, DocWrite, FindQuery, ProjectionCheckpoint, SortKey } from './document-store.port.js';
import { readReadModelSnapshot, removeLegacySnapshot, snapshotFiles, writeReadModelSnapshot, type ReadModelSnapshot } from './read-model-snapshot-file.js';

type Index = { readonly field: string; readonly ids: Map<unknown, Set<string>> };
/** `indexes` stays undefined until a query needs one: then all of the collection's are built. */
type Collection = { docs: Map<string, Doc>; readonly indexFields: readonly string[]; indexes: Index[] | undefined };
const NONE: readonly Index[] = [];

export type DocumentTable = { get(id: string): Doc | undefined; write(id: string, doc: Doc | null): void };

export type MemoryDocumentStoreOptions = {
  /** Folder for snapshots; none keeps state in memory only. */
  readonly dir?: string;
  /**
   * Write a projection's snapshot once this many events are applied since the last (default
   * 50,000), and no sooner than its documents number: a snapshot writes every document, so this
   * keeps its cost at most one document written per event applied, however large the read model.
   */
  readonly snapshotEvery?: number;
  /** A snapshot could not be written, or one found could not be read (default: a process warning). */
  readonly onSnapshotError?: (error: Error) => void;
};

/** Whether a field's value meets an equality: the value itself, or a list that holds it (as MongoDB). */
function meets(field: unknown, value: unknown): boolean {
  return field === value || (Array.isArray(field) && field.includes(value));
}

/** Files a document under its field's value, or under each element of a list (as MongoDB's multikey indexes). */
function indexUnder(index: Map<unknown, Set<string>>, value: unknown, id: string): void {
  if (!Array.isArray(value)) return fileUnder(index, value, id);
  for (const key of value) fileUnder(index, key, id);
}

function fileUnder(index: Map<unknown, Set<string>>, key: unknown, id: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new Set()));
  ids.add(id);
}

function unindex(index: Map<unknown, Set<string>>, value: unknown, id: string): void {
  if (!Array.isArray(value)) index.get(value)?.delete(id);
  else for (const key of value) index.get(key)?.delete(id);
}

/** A document a query matched, with its id and the values of the query's sort fields. */
type Entry = { readonly id: string; readonly doc: Doc; readonly keys: readonly unknown[] };

/** The query's order, then the id's, as MongoDB's store lists them. */
function compareEntry(a: Pick<Entry, 'keys' | 'id'>, b: Pick<Entry, 'keys' | 'id'>, sort: readonly SortKey[]): number {
  for (let i = 0; i < sort.length; i++) {
    const x = a.keys[i] as string | number;
    const y = b.keys[i] as string | number;
    if (x !== y) return (x < y ? -1 : 1) * (sort[i]!.order === 'asc' ? 1 : -1);
  }
  return a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
}

/** The first position in sorted `list` whose entry passes `past` (every later one does too): a binary search. */
function firstAfter(list: readonly Entry[], past: (e: Entry) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (past(list[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The embedded read-model store: documents in memory with equality indexes, and per-projection
 * snapshots (state and checkpoint in one file, replaced atomically) so a restart resumes from
 * the snapshot's cursor instead of offset zero. A snapshot is taken at a commit (the documents as
 * they are then, which are never changed in place) and written in the background, in chunks.
 */
export class MemoryDocumentStore implements DocumentStore {
  private readonly collections = new Map<string, Collection>();
  private readonly owners = new Map<string, CollectionSpec[]>();
  private readonly checkpoints = new Map<string, ProjectionCheckpoint>();
  private readonly sinceSnapshot = new Map<string, number>();
  /** Per projection: its snapshot being written, if any. */
  private readonly writing = new Map<string, Promise<void>>();
  /** Per projection: a count of its changes, and the count its snapshot file holds the state of. */
  private readonly changes = new Map<string, number>();
  private readonly saved = new Map<string, number>();

  constructor(private readonly options: MemoryDocumentStoreOptions = {}) {
    if (options.dir) mkdirSync(options.dir, { recursive: true });
  }

  async prepare(projection: string, specs: readonly CollectionSpec[], version = 1): Promise<void> {
    this.owners.set(projection, [...specs]);
    for (const spec of specs) {
      if (!this.collections.has(spec.name)) {
        this.collections.set(spec.name, { docs: new Map(), indexFields: [...spec.indexes], indexes: undefined });
      }
    }
    if (!this.options.dir) return;
    const snap = await readReadModelSnapshot(this.options.dir, projection);
    // A snapshot that is not whole is passed over: the runner builds the state from the log.
    if (snap instanceof Error) return this.snapshotFailed(snap);
    if (!snap) return;
    // Another version's documents are not loaded (its collections may not even be this one's);
    // its checkpoint is, and tells the runner to build the state again from offset zero.
    if ((snap.checkpoint.version ?? 1) === version) {
      for (const [name, docs] of snap.collections) {
        const c = this.collection(name);
        // A collection prepared a moment ago is empty and has no indexes yet: it takes the map read.
        if (c.docs.size === 0 && !c.indexes) c.docs = docs;
        else for (const [id, doc] of docs) this.put(c, id, doc);
      }
      this.saved.set(projection, this.changes.get(projection) ?? 0);
    }
    this.checkpoints.set(projection, snap.checkpoint);
  }

  private snapshotFailed(error: Error): void {
    if (this.options.onSnapshotError) this.options.onSnapshotError(error);
    else process.emitWarning(`read-model snapshot: ${error.message}`, { code: 'OPAL_READ_MODEL_SNAPSHOT' });
  }

  private collection(name: string): Collection {
    const c = this.collections.get(name);
    if (!c) throw new Error(`collection ${name} was not prepared`);
    return c;
  }

  private put(c: Collection, id: string, doc: Doc | null): void {
    const indexes = c.indexes ?? NONE;
    // Only the indexes need the old document; without them (a replay) the lookup is wasted on
    // the largest map of all.
    const old = indexes.length > 0 ? c.docs.get(id) : undefined;
    for (let i = 0; i < indexes.length; i++) {
      const { field, ids: index } = indexes[i]!;
      if (old !== undefined && doc !== null && old[field] === doc[field]) continue;
      if (old !== undefined) unindex(index, old[field], id);
      if (doc !== null) indexUnder(index, doc[field], id);
    }
    if (doc === null) c.docs.delete(id);
    else c.docs.set(id, doc);
  }

  /**
   * The collection's equality indexes, built from its documents the first time a query needs
   * them and kept up to date by every write after that. A store that is only written and
   * digested (a replay) never builds them.
   */
  private indexesOf(c: Collection): Index[] {
    if (c.indexes) return c.indexes;
    const indexes: Index[] = c.indexFields.map((field) => ({ field, ids: new Map() }));
    for (const [id, doc] of c.docs) {
      for (const { field, ids } of indexes) indexUnder(ids, doc[field], id);
    }
    return (c.indexes = indexes);
  }

  async loadCheckpoint(projection: string): Promise<ProjectionCheckpoint | undefined> {
    return this.checkpoints.get(projection);
  }

  async getMany(collection: string, ids: readonly string[]): Promise<Map<string, Doc>> {
    const c = this.collection(collection);
    const out = new Map<string, Doc>();
    for (const id of ids) {
      const d = c.docs.get(id);
      if (d !== undefined) out.set(id, d);
    }
    return out;
  }

  peek(collection: string, id: string): Doc | undefined {
    return this.collection(collection).docs.get(id);
  }

  /**
   * One collection's documents, read and written at once, outside any commit: for a rebuild from
   * offset zero into a fresh store (ProjectionRebuild), whose state is thrown away if it fails.
   */
  table(collection: string): DocumentTable {
    const c = this.collection(collection);
    return { get: (id) => c.docs.get(id), write: (id, doc) => this.put(c, id, doc) };
  }

  async get(collection: string, id: string): Promise<Doc | undefined> {
    return this.collection(collection).docs.get(id);
  }

  async find(collection: string, query: FindQuery): Promise<{ items: Doc[]; total: number }> {
    const matching = this.sorted(collection, query);
    return { items: this.pageOf(matching, query), total: matching.length };
  }

  async list(collection: string, query: FindQuery): Promise<Doc[]> {
    return this.pageOf(this.sorted(collection, query), query);
  }

  /** Every document of the query's list, in its order. */
  private sorted(collection: string, query: FindQuery): Entry[] {
    const c = this.collection(collection);
    const where = Object.entries(query.where ?? {});
    const indexed = where.find(([f]) => c.indexFields.includes(f));
    let candidates: Iterable<string>;
    if (indexed) {
      const index = this.indexesOf(c).find((x) => x.field === indexed[0])!;
      candidates = index.ids.get(indexed[1]) ?? new Set<string>();
    } else candidates = c.docs.keys();
    const sort = query.sort ?? [];
    const keys = (d: Doc) => sort.map((s) => d[s.field]);
    const matching: Entry[] = [];
    for (const id of candidates) {
      const d = c.docs.get(id)!;
      if (where.every(([f, v]) => meets(d[f], v))) matching.push({ id, doc: d, keys: keys(d) });
    }
    matching.sort((a, b) => compareEntry(a, b, sort));
    return matching;
  }

  /** The page of a sorted list that the query asks for. */
  private pageOf(matching: readonly Entry[], query: FindQuery): Doc[] {
    const after = query.after;
    const from = after ? firstAfter(matching, (e) => compareEntry(e, after, query.sort ?? []) > 0) : (query.offset ?? 0);
    return matching.slice(from, query.limit ? from + query.limit : undefined).map((e) => e.doc);
  }

  async commit(projection: string, writes: readonly DocWrite[], checkpoint: ProjectionCheckpoint): Promise<void> {
    for (const w of writes) this.put(this.collection(w.collection), w.id, w.doc);
    const before = this.checkpoints.get(projection)?.applied ?? 0;
    this.checkpoints.set(projection, checkpoint);
    this.changed(projection);
    const since = (this.sinceSnapshot.get(projection) ?? 0) + (checkpoint.applied - before);
    this.sinceSnapshot.set(projection, since);
    if (since >= Math.max(this.options.snapshotEvery ?? 50_000, this.documentsOf(projection)) && !this.writing.has(projection)) {
      void this.startSnapshot(projection);
    }
  }

  private changed(projection: string): void {
    this.changes.set(projection, (this.changes.get(projection) ?? 0) + 1);
  }

  private documentsOf(projection: string): number {
    let n = 0;
    for (const spec of this.owners.get(projection) ?? []) n += this.collection(spec.name).docs.size;
    return n;
  }

  /**
   * Writes the projection's state and checkpoint as they are now to its snapshot file (see
   * read-model-snapshot-file.ts), after any snapshot of it still being written.
   */
  async snapshot(projection: string): Promise<void> {
    for (let w = this.writing.get(projection); w; w = this.writing.get(projection)) await w;
    await this.startSnapshot(projection);
  }

  /**
   * Takes the state now and writes it in the background; resolves when it is written (or failed,
   * which is reported, not thrown: the state is still in memory and in the log).
   */
  private startSnapshot(projection: string): Promise<void> {
    const dir = this.options.dir;
    const checkpoint = this.checkpoints.get(projection);
    if (!dir || !checkpoint) return Promise.resolve();
    const { streams, ...rest } = checkpoint;
    const snapshot: ReadModelSnapshot = {
      checkpoint: { ...rest, cursor: { ...rest.cursor } },
      // The runner goes on moving its sequence guard in place: copied now.
      streams: Object.entries(streams),
      collections: (this.owners.get(projection) ?? []).map(({ name }) => {
        const docs = this.collection(name).docs;
        return { name, ids: [...docs.keys()], docs: [...docs.values()] };
      }),
    };
    this.sinceSnapshot.set(projection, 0);
    const changes = this.changes.get(projection) ?? 0;
    const write = writeReadModelSnapshot(snapshotFiles(dir, projection).file, snapshot)
      .then(
        () => {
          removeLegacySnapshot(dir, projection);
          this.saved.set(projection, changes);
        },
        (error: unknown) => this.snapshotFailed(error instanceof Error ? error : new Error(String(error))),
      )
      .finally(() => this.writing.delete(projection));
    this.writing.set(projection, write);
    return write;
  }

  async reset(projection: string, collections: readonly string[]): Promise<void> {
    for (const name of collections) {
      const c = this.collection(name);
      c.docs.clear();
      c.indexes = undefined;
    }
    this.checkpoints.delete(projection);
    this.changed(projection);
    this.sinceSnapshot.set(projection, 0);
  }

  async digest(collection: string): Promise<{ digest: string; documents: number }> {
    const docs = this.collection(collection).docs;
    const ids = [...docs.keys()].sort();
    const h = createHash('sha256');
    for (const id of ids) h.update(`${JSON.stringify(id)}:${canonicalJson(docs.get(id))}\n`);
    return { digest: h.digest('hex'), documents: ids.length };
  }

  /** Resolves once no snapshot is being written. */
  async snapshotsWritten(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing.values());
  }

  /** Waits for the snapshots being written, then writes those of projections changed since theirs. */
  async close(): Promise<void> {
    await this.snapshotsWritten();
    for (const projection of this.owners.keys()) {
      if (this.saved.get(projection) !== (this.changes.get(projection) ?? 0)) await this.startSnapshot(projection);
    }
  }
}
