import { MongoServerError, type Collection } from 'mongodb';
import type { ProjectionCheckpoint } from '@opal/event-sourcing';
import { DUPLICATE_KEY } from './bulk-write-errors.js';
import { cursorOf, fieldOfPartition, type StoredCheckpoint } from './stored-layout.js';

/** Tries before a checkpoint write gives up on others writing it meanwhile. */
const MAX_TRIES = 1000;

/**
 * Writes projections' checkpoints so that no partition's offset ever moves back, whichever of the
 * processes sharing a projection writes: each write is the document read (or last written) with
 * every offset raised to the new one's where it is higher, replaced only if its `rev` is still the
 * one read; if another process wrote meanwhile, read again and retry. `rev` is a string because the
 * local FerretDB build checks a filter's top-level string equalities again in the write itself
 * (scripts/infra/ferretdb-backend-patches.mjs); MongoDB checks any filter atomically. A checkpoint of
 * an earlier release, without `rev`, is replaced on the condition that it has none, which that build
 * does not check again: two processes taking it over at the same moment may lose one raise, once.
 *
 * Why not `$max` on each offset alone: FerretDB applies an update by reading the document and writing
 * it back whole, so two processes raising different partitions at once lost one raise (four writers,
 * 300 writes each: 117 offsets read back lower than written).
 */
export class CheckpointWriter {
  /** The checkpoint as this process last read or wrote it, by id; a write that finds it changed reads it again. */
  private readonly known = new Map<string, StoredCheckpoint>();

  constructor(private readonly collection: () => Collection<StoredCheckpoint>) {}

  async load(id: string): Promise<StoredCheckpoint | undefined> {
    const found = (await this.collection().findOne({ _id: id })) ?? undefined;
    if (found) this.known.set(id, found);
    else this.known.delete(id);
    return found;
  }

  async save(id: string, checkpoint: ProjectionCheckpoint): Promise<void> {
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const before = this.known.get(id) ?? (await this.load(id));
      const next = raised(id, before, checkpoint);
      try {
        const written = before
          ? (await this.collection().replaceOne({ _id: id, rev: before.rev ?? { $exists: false } }, next)).matchedCount === 1
          : (await this.collection().insertOne(next), true);
        if (written) {
          this.known.set(id, next);
          return;
        }
      } catch (error) {
        // Another process stored the first checkpoint meanwhile.
        if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) {
          this.known.delete(id);
          throw error;
        }
      }
      this.known.delete(id);
    }
    throw new Error(`checkpoint ${id}: still written by others after ${MAX_TRIES} tries`);
  }

  forget(id: string): void {
    this.known.delete(id);
  }
}

/** `before` with each partition's offset raised to the checkpoint's, the checkpoint's counts, the next revision. */
function raised(id: string, before: StoredCheckpoint | undefined, checkpoint: ProjectionCheckpoint): StoredCheckpoint {
  const offsets = before ? cursorOf(before) : {};
  for (const [p, o] of Object.entries(checkpoint.cursor)) if (!(p in offsets) || offsets[p]! < o) offsets[p] = o;
  const at: Record<string, number> = {};
  for (const [p, o] of Object.entries(offsets)) at[fieldOfPartition(p)] = o;
  return { _id: id, at, applied: checkpoint.applied, version: checkpoint.version ?? 1, rev: String(Number(before?.rev ?? 0) + 1) };
}
