import type { AnyBulkWriteOperation, Collection, MongoBulkWriteError } from 'mongodb';
import { DUPLICATE_KEY, writeErrorsOf } from './bulk-write-errors.js';
import type { Stored } from './stored-layout.js';

/** Documents per insert command, so a large batch's inserts run in several lanes. */
const INSERT_CHUNK = 2000;
/** Replacements per update command. */
const UPDATE_CHUNK = 2000;
/** Write commands in flight at once, on disjoint documents (FerretDB's pool holds 100 statements). */
const WRITE_LANES = 4;

/** One collection's share of a batch: new documents, and replacements conditional on a guard. */
export type CollectionWrites = {
  readonly collection: Collection<Stored>;
  readonly inserts: readonly AnyBulkWriteOperation<Stored>[];
  readonly replaces: readonly AnyBulkWriteOperation<Stored>[];
};

/**
 * How a collection's writes went: `conflicts` counts inserts of an id already there and
 * replacements whose condition no longer held; `failed` that a command failed otherwise.
 */
export type CollectionOutcome = { conflicts: number; failed: boolean };

/**
 * Runs every collection's commands through one queue served by WRITE_LANES lanes: the server parses
 * one command while it writes another, instead of waiting for a collection to finish before the
 * next starts. Returns each collection's outcome, in order, and the first failure, if any. A lane
 * stops at its first failed command; commands no lane got to count as failed too: with the server
 * gone every lane stops, and a collection none of whose commands ran is not written.
 */
export async function writeInLanes(writes: readonly CollectionWrites[]): Promise<{ outcomes: CollectionOutcome[]; failure?: unknown }> {
  const outcomes = writes.map((): CollectionOutcome => ({ conflicts: 0, failed: false }));
  const queue: { at: number; bulk: AnyBulkWriteOperation<Stored>[]; replaces: boolean }[] = [];
  writes.forEach((w, at) => {
    for (let i = 0; i < w.inserts.length; i += INSERT_CHUNK) queue.push({ at, bulk: w.inserts.slice(i, i + INSERT_CHUNK), replaces: false });
    // The local FerretDB build writes a command of such replacements in one transaction
    // (scripts/infra/ferretdb.mjs); stock FerretDB 1.24 held every statement's rows open until the
    // command ended and deadlocked its connection pool past ~100 statements.
    for (let i = 0; i < w.replaces.length; i += UPDATE_CHUNK) queue.push({ at, bulk: w.replaces.slice(i, i + UPDATE_CHUNK), replaces: true });
  });
  const lane = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const outcome = outcomes[next.at]!;
      const expectMatched = next.replaces ? next.bulk.length : 0;
      try {
        const r = await writes[next.at]!.collection.bulkWrite(next.bulk, { ordered: false });
        outcome.conflicts += expectMatched - r.matchedCount;
      } catch (error) {
        const errors = writeErrorsOf(error);
        if (!errors || errors.some((e) => e.code !== DUPLICATE_KEY)) {
          outcome.failed = true;
          throw error;
        }
        outcome.conflicts += errors.length + (expectMatched - (error as MongoBulkWriteError).result.matchedCount);
      }
    }
  };
  const done = await Promise.allSettled(Array.from({ length: Math.min(WRITE_LANES, queue.length) }, lane));
  for (const left of queue) outcomes[left.at]!.failed = true;
  const failed = done.find((r) => r.status === 'rejected');
  return { outcomes, failure: failed?.reason };
}
