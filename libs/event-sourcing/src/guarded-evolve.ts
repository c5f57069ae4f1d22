import type { StoredEvent } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { DocumentStore, GuardedDoc, GuardedWrite } from './document-store.port.js';
import type { Projection } from './projection.js';

type Position = StoredEvent['position'];
type Working = { doc: GuardedDoc['doc']; applied: Record<string, number>; rev: number; dirty: boolean };

/**
 * Evolves a batch against a guarded store: one read per collection, then per document only the
 * events past the offset it has already applied in their partition (redelivered events and events
 * a crashed run wrote before its checkpoint are skipped). Returns the changed documents with their
 * new guards and the revisions they were read at.
 */
export async function evolveGuarded<E extends DomainEvent>(
  p: Projection<E>,
  store: DocumentStore,
  decoded: readonly RecordedEvent<E>[],
  positions: readonly Position[],
): Promise<GuardedWrite[]> {
  const routes = decoded.map((e) => p.route(e));
  const ids = new Map<string, Set<string>>();
  for (const refs of routes) {
    for (const r of refs) {
      let set = ids.get(r.collection);
      if (!set) ids.set(r.collection, (set = new Set()));
      set.add(r.id);
    }
  }
  const working = new Map<string, Map<string, Working>>();
  for (const [collection, set] of ids) {
    const found = await store.getGuarded!(collection, [...set]);
    const docs = new Map<string, Working>();
    for (const id of set) {
      const g = found.get(id);
      docs.set(id, g ? { doc: g.doc, applied: { ...g.guard.applied }, rev: g.guard.rev, dirty: false } : { doc: null, applied: {}, rev: 0, dirty: false });
    }
    working.set(collection, docs);
  }
  for (let i = 0; i < decoded.length; i++) {
    const event = decoded[i]!;
    const { partition, offset } = positions[i]!;
    for (const ref of routes[i]!) {
      const w = working.get(ref.collection)!.get(ref.id)!;
      if ((w.applied[partition] ?? -1) >= offset) continue; // this document has seen it
      const before = w.doc ?? undefined;
      const after = p.evolve(ref, before, event);
      if (after === undefined || after === before) continue;
      w.doc = after;
      w.applied[partition] = offset;
      w.dirty = true;
    }
  }
  const writes: GuardedWrite[] = [];
  for (const [collection, docs] of working) {
    for (const [id, w] of docs) {
      if (w.dirty) writes.push({ collection, id, doc: w.doc, guard: { applied: w.applied, rev: w.rev + 1 }, expectedRev: w.rev });
    }
  }
  return writes;
}
