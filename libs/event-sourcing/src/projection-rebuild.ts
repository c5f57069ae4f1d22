import type { Cursor, EnvelopeView } from '@opal/event-log';
import type { DomainEvent, EventMeta, RecordedEvent } from './domain-event.js';
import type { DocumentTable, MemoryDocumentStore } from './memory-document-store.js';
import type { Projection } from './projection.js';
import type { TypedEventCodec } from './typed-event-codec.js';
import { failedOn, nameEvent } from './projection-failure.js';

type Member = {
  readonly projection: Projection<DomainEvent>;
  applied: number;
  /** The projection's collections, in its order, and their tables (set by prepare). */
  readonly names: string[];
  readonly tables: DocumentTable[];
};
/** `streams`: per stream, the last sequence each member applied (by member index; -1 for none). */
type Group = { readonly codec: TypedEventCodec<DomainEvent>; readonly members: Member[]; readonly streams: Map<string, number[]> };

/**
 * Rebuilds projections from offset zero into a fresh in-memory store, straight from the log's
 * records: each event is decoded once for all projections of its service (from the log's buffer,
 * no StoredEvent) and every reducer's result is written to the store at once, where a
 * ProjectionRunner stages a batch and commits it with its checkpoint. The same reducers, the same
 * per-stream sequence rule, so the same documents and counts as the runner; the checkpoints are
 * stored by `finish`. If anything throws, the store holds a partial state: discard it.
 */
export class ProjectionRebuild {
  private readonly groups: Group[] = [];

  constructor(
    private readonly store: MemoryDocumentStore,
    projections: readonly Projection<DomainEvent>[],
  ) {
    for (const projection of projections) {
      let group = this.groups.find((g) => g.codec === projection.codec);
      if (!group) this.groups.push((group = { codec: projection.codec, members: [], streams: new Map() }));
      group.members.push({ projection, applied: 0, names: projection.collections.map((c) => c.name), tables: [] });
    }
  }

  /** Prepares the store's collections; call once, before the first record. */
  async prepare(): Promise<void> {
    for (const g of this.groups) {
      for (const m of g.members) {
        await this.store.prepare(m.projection.name, m.projection.collections, m.projection.version);
        for (const name of m.names) m.tables.push(this.store.table(name));
      }
    }
  }

  /** Applies the next record of the log (records must come in log order from offset zero). */
  apply(record: EnvelopeView): void {
    const type = record.type;
    const streamId = record.streamId;
    const seq = record.streamSeq;
    for (let i = 0; i < this.groups.length; i++) {
      const g = this.groups[i]!;
      if (!g.codec.handles(type)) continue;
      let event: RecordedEvent<DomainEvent> | undefined;
      let last = g.streams.get(streamId);
      if (!last) g.streams.set(streamId, (last = new Array<number>(g.members.length).fill(-1)));
      for (let j = 0; j < g.members.length; j++) {
        if (seq <= last[j]!) continue; // already applied
        last[j] = seq;
        const m = g.members[j]!;
        try {
          event ??= g.codec.decodeRange(type, record.buf, record.payloadStart, record.payloadEnd, new RecordMeta(record))!;
          evolve(m, event);
        } catch (error) {
          throw failedOn(m.projection.name, nameEvent({ type, streamId, streamSeq: seq }), error);
        }
        m.applied++;
      }
    }
  }

  /** Events applied to a projection so far (as ProjectionRunner.appliedEvents counts them). */
  appliedEvents(projection: string): number {
    for (const g of this.groups) for (const m of g.members) if (m.projection.name === projection) return m.applied;
    throw new Error(`projection ${projection} is not part of this rebuild`);
  }

  /** Stores each projection's checkpoint (`cursor` just past the last record applied). */
  async finish(cursor: Cursor): Promise<void> {
    for (const g of this.groups) {
      for (let j = 0; j < g.members.length; j++) {
        const m = g.members[j]!;
        const streams: Record<string, number> = {};
        for (const [stream, last] of g.streams) if (last[j]! >= 0) streams[stream] = last[j]!;
        await this.store.commit(m.projection.name, [], { cursor, streams, applied: m.applied, version: m.projection.version ?? 1 });
      }
    }
  }
}

/**
 * A record's meta, its event id decoded only when a reducer reads it: read models rarely do, and
 * it is the one envelope string that is new on every event. The record's buffer is the log's
 * batch, which the log never reuses (scanRange), so the id can be read after the visit.
 */
class RecordMeta implements EventMeta {
  readonly streamId: string;
  readonly streamSeq: number;
  readonly occurredAt: number;
  private readonly buf: Buffer;
  private readonly idStart: number;
  private readonly idEnd: number;
  private id: string | undefined = undefined;

  constructor(record: EnvelopeView) {
    this.streamId = record.streamId;
    this.streamSeq = record.streamSeq;
    this.occurredAt = record.occurredAt;
    this.buf = record.buf;
    this.idStart = record.eventIdStart;
    this.idEnd = record.eventIdEnd;
  }

  get eventId(): string {
    return (this.id ??= this.buf.toString('utf8', this.idStart, this.idEnd));
  }
}

function evolve(m: Member, event: RecordedEvent<DomainEvent>): void {
  const p = m.projection;
  const refs = p.route(event);
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    const table = m.tables[m.names.indexOf(ref.collection)];
    if (!table) throw new Error(`projection ${p.name} routed an event to ${ref.collection}, not one of its collections`);
    const before = table.get(ref.id);
    const after = p.evolve(ref, before, event);
    if (after !== undefined && after !== before) table.write(ref.id, after);
  }
}
