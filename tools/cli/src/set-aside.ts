import type { StoredEvent } from '@opal/event-log';
import type { DeadLetterRecord } from '@opal/event-log-kafka';
import { nameEvent, projectionSubscription, type DomainEvent, type Projection } from '@opal/event-sourcing';

/** An event a replay left out of a projection, as its live subscription had set it aside. */
export type LeftOut = {
  readonly projection: string;
  /** `type stream#seq (partition@offset)` of the event. */
  readonly event: string;
  readonly eventId: string;
  readonly reason: string;
  /** Where the dead-letter topic holds it (`<topic>/<partition>@<offset>`). */
  readonly deadLetter: string;
};

const at = (e: StoredEvent) => `${e.position.partition}@${e.position.offset}`;

/**
 * The events live subscriptions set aside, per projection, for a replay that leaves them out (`opal
 * replay --skip-dead-lettered`): the state it rebuilds is then the one the live read models hold.
 * A projection's dead letters are those of its version's subscription only: another version has
 * other reducers, which may apply the event. Each dead letter names the event's place in the log;
 * the event found there must be the one set aside (same id), and every dead letter must be met by
 * the end of the replay, else the log is not the one the subscriptions read and the replay fails.
 */
export class SetAside {
  /** Per projection name: dead letters by the place of their event in the log. */
  private readonly byProjection = new Map<string, Map<string, DeadLetterRecord>>();
  private readonly met = new Set<DeadLetterRecord>();
  readonly leftOut: LeftOut[] = [];

  constructor(records: readonly DeadLetterRecord[], projections: readonly Projection<DomainEvent>[]) {
    const bySubscription = new Map(projections.map((p) => [projectionSubscription(p.name, p.version ?? 1), p.name]));
    for (const r of records) {
      const projection = bySubscription.get(r.subscription);
      if (projection === undefined) continue; // a reactor's, or another version's
      let places = this.byProjection.get(projection);
      if (!places) this.byProjection.set(projection, (places = new Map()));
      // The same event set aside twice (a restart before the dead letter's offset was committed): once is enough.
      if (!places.has(r.source)) places.set(r.source, r);
    }
  }

  /** Dead letters that apply to the replayed projections. */
  get size(): number {
    let n = 0;
    for (const places of this.byProjection.values()) n += places.size;
    return n;
  }

  /** The batch without the events this projection's subscription set aside. */
  filter(projection: string, batch: readonly StoredEvent[]): readonly StoredEvent[] {
    const places = this.byProjection.get(projection);
    if (!places) return batch;
    let kept: StoredEvent[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      const record = places.get(at(e));
      if (!record) {
        kept?.push(e);
        continue;
      }
      if (record.event.eventId !== e.eventId) {
        throw new Error(
          `dead letter ${record.at} of ${record.subscription}: ${record.source} holds ${nameEvent(e)} (event ${e.eventId}) in this log, not the event set aside, ${nameEvent(record.event)} (event ${record.event.eventId}); this is not the log the subscription read`,
        );
      }
      kept ??= batch.slice(0, i);
      if (!this.met.has(record)) {
        this.met.add(record);
        this.leftOut.push({ projection, event: nameEvent(e, e.position), eventId: e.eventId, reason: record.reason, deadLetter: record.at });
      }
    }
    return kept ?? batch;
  }

  /** After the replay: every dead letter met its event, or the replay fails naming one that did not. */
  checkAllMet(): void {
    for (const places of this.byProjection.values()) {
      for (const r of places.values()) {
        if (!this.met.has(r)) throw new Error(`dead letter ${r.at} of ${r.subscription}: the log holds no event at ${r.source} (it set aside ${nameEvent(r.event)}); this is not the log the subscription read`);
      }
    }
  }
}
