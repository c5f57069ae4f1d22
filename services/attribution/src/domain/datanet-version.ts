import { AttributionError } from './attribution.errors.js';

/** A published Datanet version, named "<datanetId>@<version>" in events and requests. */
export type DatanetVersionRef = { readonly datanetId: string; readonly version: number };

const PATTERN = /^([a-z0-9][a-z0-9-]{0,62})@([1-9][0-9]{0,9})$/;

export const versionKey = (v: DatanetVersionRef) => `${v.datanetId}@${v.version}`;

/** Parses "<datanetId>@<version>"; undefined when malformed. */
export function parseVersionKey(key: string): DatanetVersionRef | undefined {
  const m = PATTERN.exec(key);
  if (!m) return undefined;
  const version = Number(m[2]);
  return version <= 0xffffffff ? { datanetId: m[1]!, version } : undefined;
}

/**
 * The versions to attribute against: a Datanet's versions are cumulative (each holds every
 * contribution accepted before it), so only the latest named version of each Datanet is queried;
 * querying both would count every span twice. Sorted by Datanet id, so the order is canonical.
 */
export function resolveVersions(refs: readonly DatanetVersionRef[]): DatanetVersionRef[] {
  const latest = new Map<string, number>();
  for (const r of refs) latest.set(r.datanetId, Math.max(latest.get(r.datanetId) ?? 0, r.version));
  return [...latest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([datanetId, version]) => ({ datanetId, version }));
}

/** Request form: every entry must parse; the error names the field and the bad entry. */
export function parseRequestedVersions(field: string, keys: readonly string[]): DatanetVersionRef[] {
  if (keys.length === 0) throw new AttributionError('INVALID_FIELD', `${field}: give at least one "<datanet_id>@<version>"`);
  return resolveVersions(
    keys.map((k) => {
      const ref = parseVersionKey(k);
      if (!ref) throw new AttributionError('INVALID_FIELD', `${field}: ${JSON.stringify(k)} is not "<datanet_id>@<version>"`);
      return ref;
    }),
  );
}
