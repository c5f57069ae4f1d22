import type { Filter } from 'mongodb';
import type { Doc, DocGuard, FindQuery, GuardedWrite, SortKey } from '@opal/event-sourcing';

// The layout of read-model documents in MongoDB: what MongoDocumentStore writes and reads back.

/**
 * How a read-model document is stored: its own fields at the top level next to `_id`, and `_g`,
 * the hidden guard, as one string (see encodeGuard). A tombstone (a deleted document that keeps its
 * guard) is `{_id, _g, _deleted: true}`. Flat, with one hidden string, because the server's cost
 * per written document grows with every field and level: on FerretDB 1.24 an insert costs ~90 µs
 * this way against ~135 µs with the document nested under a field and the guard as a list of
 * sub-documents (measured).
 */
export type Stored = { _id: string; _g: string; _deleted?: true; [field: string]: unknown };
/**
 * A projection's checkpoint: per partition (its key with `.`, `$` and `%` escaped), the offset after
 * the last event applied (`at`); `cursor` is the list earlier releases stored instead.
 */
/** `rev` counts the writes of the checkpoint, as a string (absent on those of earlier releases); see CheckpointWriter. */
export type StoredCheckpoint = { _id: string; at?: Record<string, number>; cursor?: { p: string; o: number }[]; applied: number; version?: number; rev?: string };

/** The collection of every projection's checkpoint. */
export const CHECKPOINTS = '_checkpoints';

/** Field names a read model's documents must not use: the store's own. */
const RESERVED = ['_id', '_g', '_deleted'] as const;
/** Filter that leaves out tombstones. */
export const LIVE = { _deleted: { $exists: false } } as const;
/** Projection that leaves out the hidden fields. */
export const VISIBLE = { _g: 0, _deleted: 0 } as const;

/**
 * The index of a field whose lists are read in `order`: the field, the order's keys and `_id` (the
 * tie-breaker `find` adds), so an equality on the field reads a page in order from the index. Named
 * by its keys, `-` before a descending one: `datanetId,-accepted,contributor`.
 */
export function sortedIndex(field: string, order: readonly SortKey[]): { key: Record<string, 1 | -1>; name: string } {
  const key: Record<string, 1 | -1> = { [field]: 1 };
  const names = [field];
  for (const k of order) {
    if (k.field in key) continue;
    key[k.field] = k.order === 'asc' ? 1 : -1;
    names.push(k.order === 'asc' ? k.field : `-${k.field}`);
  }
  if (!('_id' in key)) key._id = 1;
  return { key, name: names.join(',') };
}

/**
 * The guard as stored: JSON `[rev, partition, offset, partition, offset, ...]`, partitions in
 * sorted order, so one guard always has one string (a conditional write compares it whole).
 */
export function encodeGuard(g: DocGuard): string {
  const parts: (string | number)[] = [g.rev];
  for (const p of Object.keys(g.applied).sort()) parts.push(p, g.applied[p]!);
  return JSON.stringify(parts);
}

export function decodeGuard(raw: string): DocGuard {
  const parts = JSON.parse(raw) as (string | number)[];
  const applied: Record<string, number> = {};
  for (let i = 1; i + 1 < parts.length; i += 2) applied[parts[i] as string] = parts[i + 1] as number;
  return { applied, rev: parts[0] as number };
}

/** The read model's document: the stored one without `_id` and the hidden fields. */
export function visible(s: Stored | Record<string, unknown>): Doc {
  const { _id, _g, _deleted, ...doc } = s as Stored;
  return doc;
}

export function stored(w: GuardedWrite, raw: string): Stored {
  if (w.doc === null) return { _id: w.id, _g: raw, _deleted: true };
  for (const field of RESERVED) {
    if (field in w.doc) throw new Error(`collection ${w.collection}, document ${w.id}: field ${field} is reserved by the store`);
  }
  return { _id: w.id, ...w.doc, _g: raw };
}

/**
 * Where a projection's version keeps its documents and checkpoint: version 1 under the plain names,
 * version n > 1 under `<collection>_v<n>` and `<projection>@v<n>`, so processes of two versions
 * (a rolling upgrade) never share a read model.
 */
export function collectionOfVersion(name: string, version: number): string {
  return version === 1 ? name : `${name}_v${version}`;
}

export function checkpointOfVersion(projection: string, version: number): string {
  return version === 1 ? projection : `${projection}@v${version}`;
}

/** The version of `base` a stored name holds (`sep`: '_v' for collections, '@v' for checkpoints), if any. */
export function versionOfName(stored: string, base: string, sep: '_v' | '@v'): number | undefined {
  if (stored === base) return 1;
  if (!stored.startsWith(base + sep)) return undefined;
  const rest = stored.slice(base.length + sep.length);
  return /^[1-9][0-9]*$/.test(rest) && Number(rest) > 1 ? Number(rest) : undefined;
}

/** A partition key as a field name: a `.` would be a path, a leading `$` an operator. */
export function fieldOfPartition(key: string): string {
  return key.replace(/%/g, '%25').replace(/\./g, '%2E').replace(/\$/g, '%24');
}

const UNESCAPED: Record<string, string> = { '%25': '%', '%2E': '.', '%24': '$' };

function partitionOfField(field: string): string {
  return field.replace(/%(25|2E|24)/g, (m) => UNESCAPED[m]!);
}

/** The stored cursor; checkpoints written before `at` kept it as a list (`cursor`), read too. */
export function cursorOf(c: StoredCheckpoint): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { p, o } of c.cursor ?? []) out[p] = o;
  for (const [field, o] of Object.entries(c.at ?? {})) {
    const p = partitionOfField(field);
    if (!(p in out) || out[p]! < o) out[p] = o;
  }
  return out;
}

/**
 * The documents after a place in a sorted list: greater in the first sort field (smaller where it
 * sorts descending), or equal in it and after in the rest, the id last, as one `$or` that the
 * list's index (`CollectionSpec.sorted`: the field, the sort's keys, `_id`) answers in order.
 */
export function afterFilter(sort: readonly SortKey[], after: NonNullable<FindQuery['after']>): Filter<Stored> {
  const keys = [...sort.map((s, i) => ({ field: s.field, op: s.order === 'asc' ? '$gt' : '$lt', value: after.keys[i] })), { field: '_id', op: '$gt', value: after.id }];
  return {
    $or: keys.map((k, i) => {
      const clause: Record<string, unknown> = {};
      for (const equal of keys.slice(0, i)) clause[equal.field] = equal.value;
      clause[k.field] = { [k.op]: k.value };
      return clause;
    }),
  } as Filter<Stored>;
}

/**
 * The documents a query's equalities select. A tombstone holds no field of its document, so an
 * equality on one never matches it: the filter then needs no `_deleted` condition, and MongoDB can
 * count from the field's index alone instead of reading every matching document to check it.
 */
export function listFilter(query: FindQuery): Record<string, unknown> {
  const where = Object.entries(query.where ?? {});
  const filter: Record<string, unknown> = where.some(([f]) => !f.startsWith('_')) ? {} : { ...LIVE };
  for (const [f, v] of where) filter[f] = v;
  return filter;
}
