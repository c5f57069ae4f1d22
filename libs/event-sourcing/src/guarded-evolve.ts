import type { StoredEvent } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { Doc, DocumentStore, GuardedDoc, GuardedWrite } from './document-store.port.js';
import { failedOn, nameEvent } from './projection-failure.js';
import type { Projection } from './projection.js';

type Position = StoredEvent['position'];
type Working = { doc: GuardedDoc['doc']; applied: Record<string, number>; rev: number; dirty: boolean; unseen: boolean };

/**
 * Evolves a batch against a guarded store: one read per collection, then per document only the
 * events past the offset it has already applied in their partition (redelivered events and events
 * a crashed run wrote before its checkpoint are skipped). Returns the changed documents with their
 * new guards and the revisions they were read at.
 *
 * A store answers from what it remembers, or takes unseen documents as new without a read; a wrong
 * guess is caught where the document is written (the insert conflicts), but not where an event
 * leaves it as it was: a projection ignores an update to a document it does not have (a
 * contribution accepted before it is known), and that event would be passed over for good. So
 * such documents are read from the server, and the batch evolved again if any of them exists.
 */
export async function evolveGuarded<E extends DomainEvent>(
  p: Projection<E>,
  store: DocumentStore,
  decoded: readonly RecordedEvent<E>[],
  positions: readonly Position[],
  confirmed = false,
): Promise<GuardedWrite[]> {
  const routes = decoded.map((e, i) => {
    try {
      return p.route(e);
    } catch (error) {
      throw failedOn(p.name, nameEvent({ type: p.codec.fullType(e.type), ...e.meta }, positions[i]), error);
    }
  });
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
      docs.set(id, g ? { doc: g.doc, applied: { ...g.guard.applied }, rev: g.guard.rev, dirty: false, unseen: false } : { doc: null, applied: {}, rev: 0, dirty: false, unseen: true });
    }
    working.set(collection, docs);
  }
  // Absent documents, not written yet, that an event left as they were.
  const passedOver = new Map<string, Set<string>>();
  for (let i = 0; i < decoded.length; i++) {
    const event = decoded[i]!;
    const { partition, offset } = positions[i]!;
    for (const ref of routes[i]!) {
      const w = working.get(ref.collection)!.get(ref.id)!;
      if ((w.applied[partition] ?? -1) >= offset) continue; // this document has seen it
      const before = w.doc ?? undefined;
      let after: Doc | null | undefined;
      try {
        after = p.evolve(ref, before, event);
      } catch (error) {
        throw failedOn(p.name, nameEvent({ type: p.codec.fullType(event.type), ...event.meta }, positions[i]), error);
      }
      if (after === undefined || after === before) {
        if (w.unseen && !w.dirty && !confirmed) {
          let set = passedOver.get(ref.collection);
          if (!set) passedOver.set(ref.collection, (set = new Set()));
          set.add(ref.id);
        }
        continue;
      }
      w.doc = after;
      w.applied[partition] = offset;
      w.dirty = true;
    }
  }
  if (passedOver.size > 0) {
    let exists = false;
    for (const [collection, set] of passedOver) {
      if ((await store.getGuarded!(collection, [...set], { fresh: true })).size > 0) exists = true;
    }
    // The store now knows them as they are: evolved again, the batch reads them from it.
    if (exists) return evolveGuarded(p, store, decoded, positions, true);
  }
  const writes: GuardedWrite[] = [];
  for (const [collection, docs] of working) {
    for (const [id, w] of docs) {
      if (w.dirty) writes.push({ collection, id, doc: w.doc, guard: { applied: w.applied, rev: w.rev + 1 }, expectedRev: w.rev });
    }
  }
  return writes;
}
