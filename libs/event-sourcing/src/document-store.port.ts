import type { Cursor } from '@opal/event-log';

/** A read-model document: plain JSON (amounts as decimal strings), keyed by id within a collection. */
export type Doc = { readonly [field: string]: unknown };

export type DocWrite = { readonly collection: string; readonly id: string; readonly doc: Doc | null };

/** Stored with the state it describes, in the same commit: the projection's progress. */
export type ProjectionCheckpoint = {
  readonly cursor: Cursor;
  /** Last applied sequence per stream: the idempotency guard against redelivered events. */
  readonly streams: Readonly<Record<string, number>>;
  readonly applied: number;
  /** The projection version that built the state (absent: 1). */
  readonly version?: number;
};

export type SortKey = { readonly field: string; readonly order: 'asc' | 'desc' };

export type FindQuery = {
  /**
   * Equalities, all of which a document meets. A field that holds a list meets one when any of its
   * elements equals the value, as MongoDB matches (a Datanet's `tags` and one tag).
   */
  readonly where?: Readonly<Record<string, string | number | boolean>>;
  /** The order of the list; documents equal in it are listed in id order, always last. */
  readonly sort?: readonly SortKey[];
  readonly limit?: number;
  readonly offset?: number;
  /**
   * Instead of `offset`: the documents after this place in the list (the values of the sort's
   * fields, then the id, of the last document of the page before). A page read this way costs the
   * same wherever it starts in the list. `total` still counts the whole list.
   */
  readonly after?: { readonly keys: readonly (string | number)[]; readonly id: string };
};

export type CollectionSpec = {
  readonly name: string;
  /** Fields the collection is queried by, by equality. */
  readonly indexes: readonly string[];
  /**
   * For an indexed field, the order its lists are read in (a FindQuery's `sort`). A store with
   * ordered indexes (MongoDB) indexes the field followed by these keys and `_id`, so a page of a
   * large list is read in order from the index instead of all its documents being sorted.
   */
  readonly sorted?: { readonly [field: string]: readonly SortKey[] };
};

/**
 * Per-document progress, kept by stores without multi-document transactions: the last log offset
 * applied to the document per partition (an event at or below it is skipped for this document,
 * so a crash between document writes and the checkpoint never applies an event twice), and a
 * revision that makes concurrent writers (two processes, a rebalance) conflict instead of losing
 * an update. Hidden from get/find/digest.
 */
export type DocGuard = { readonly applied: Readonly<Record<string, number>>; readonly rev: number };

/** A document as a guarded store holds it; `doc` null is a tombstone (deleted, guard kept). */
export type GuardedDoc = { readonly doc: Doc | null; readonly guard: DocGuard };

/** `expectedRev` 0: the document must not exist yet. */
export type GuardedWrite = DocWrite & { readonly guard: DocGuard; readonly expectedRev: number };

/** Another writer changed a document since it was read: re-read and apply the batch again. */
export class DocumentConflictError extends Error {
  readonly code = 'DOCUMENT_CONFLICT';
}

/** Where read models live: in memory with snapshots (embedded) or MongoDB (scaled out). */
export interface DocumentStore {
  /**
   * Creates collections and indexes; idempotent. `version` (1 when absent) is the projection's: a
   * store shared by processes keeps each version's documents and checkpoint apart, since processes
   * of the version before may still run (a rolling upgrade, a rollback); an in-process store loads
   * no state that another version built. A process runs one version of each projection.
   */
  prepare(projection: string, collections: readonly CollectionSpec[], version?: number): Promise<void>;
  loadCheckpoint(projection: string): Promise<ProjectionCheckpoint | undefined>;
  getMany(collection: string, ids: readonly string[]): Promise<Map<string, Doc>>;
  /** Synchronous read, offered by in-process stores. A store offers this or the guarded pair below. */
  peek?(collection: string, id: string): Doc | undefined;
  get(collection: string, id: string): Promise<Doc | undefined>;
  /** A page of a list, with how many documents the whole list holds. */
  find(collection: string, query: FindQuery): Promise<{ items: Doc[]; total: number }>;
  /**
   * The same page without counting the list: counting reads every matching document on some
   * servers (FerretDB), or all of an index's matching keys, whatever the page's size.
   */
  list(collection: string, query: FindQuery): Promise<Doc[]>;
  /** Applies the writes and stores the checkpoint as one unit. */
  commit(projection: string, writes: readonly DocWrite[], checkpoint: ProjectionCheckpoint): Promise<void>;
  /**
   * Guarded stores (no transactions) offer these two instead of relying on `commit` being atomic:
   * the runner then skips events per document and resumes through the log's shared checkpoint.
   */
  /**
   * Reads documents with their guards; absent ones are left out. A store may answer from what it
   * read or wrote before, or take unseen documents as new without a read (a wrong guess makes the
   * write conflict); `fresh` reads every one of `ids` from the server now.
   */
  getGuarded?(collection: string, ids: readonly string[], options?: { fresh?: boolean }): Promise<Map<string, GuardedDoc>>;
  /** Writes each document only if its revision is still `expectedRev`, then the checkpoint, last. */
  commitGuarded?(projection: string, writes: readonly GuardedWrite[], checkpoint: ProjectionCheckpoint): Promise<void>;
  /** Drops a projection's state and checkpoint, for a rebuild from offset zero. */
  reset(projection: string, collections: readonly string[]): Promise<void>;
  /** SHA-256 over the collection's documents in id order (canonical JSON). */
  digest(collection: string): Promise<{ digest: string; documents: number }>;
  close(): Promise<void>;
}

export const DOCUMENT_STORE = Symbol('DocumentStore');
