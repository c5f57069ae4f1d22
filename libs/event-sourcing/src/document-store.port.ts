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
};

export type FindQuery = {
  readonly where?: Readonly<Record<string, string | number | boolean>>;
  readonly sort?: ReadonlyArray<{ readonly field: string; readonly order: 'asc' | 'desc' }>;
  readonly limit?: number;
  readonly offset?: number;
};

export type CollectionSpec = { readonly name: string; readonly indexes: readonly string[] };

/** Where read models live: in memory with snapshots (embedded) or MongoDB (scaled out). */
export interface DocumentStore {
  /** Creates collections and indexes; idempotent. */
  prepare(projection: string, collections: readonly CollectionSpec[]): Promise<void>;
  loadCheckpoint(projection: string): Promise<ProjectionCheckpoint | undefined>;
  getMany(collection: string, ids: readonly string[]): Promise<Map<string, Doc>>;
  /** Synchronous read, offered by in-process stores; projections then skip the batch prefetch. */
  peek?(collection: string, id: string): Doc | undefined;
  get(collection: string, id: string): Promise<Doc | undefined>;
  find(collection: string, query: FindQuery): Promise<{ items: Doc[]; total: number }>;
  /** Applies the writes and stores the checkpoint as one unit. */
  commit(projection: string, writes: readonly DocWrite[], checkpoint: ProjectionCheckpoint): Promise<void>;
  /** Drops a projection's state and checkpoint, for a rebuild from offset zero. */
  reset(projection: string, collections: readonly string[]): Promise<void>;
  /** SHA-256 over the collection's documents in id order (canonical JSON). */
  digest(collection: string): Promise<{ digest: string; documents: number }>;
  close(): Promise<void>;
}

export const DOCUMENT_STORE = Symbol('DocumentStore');
