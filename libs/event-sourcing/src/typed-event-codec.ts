import { eventCatalog, streamsOfEventTypes } from '@opal/contracts';
import type { NewEvent, StoredEvent } from '@opal/event-log';
import type { DomainEvent, EventMeta, RecordedEvent } from './domain-event.js';

const DECODED = Symbol('decoded');
type Memo = { [DECODED]?: { codec: unknown; event: unknown } };

/**
 * Maps one service's domain events (short names) to the protobuf integration events in proto/
 * (`<package>.<Name>`), and back. Unknown types on read are skipped, so a service only decodes
 * the events it cares about.
 */
export class TypedEventCodec<E extends DomainEvent> {
  private readonly byShort = new Map<string, { full: string; encode(m: unknown): Uint8Array }>();
  private readonly byFull = new Map<string, { short: string; decode(b: Uint8Array): unknown; decodeRange(b: Uint8Array, start: number, end: number): unknown }>();

  constructor(pkg: string, types: readonly E['type'][]) {
    for (const short of types) {
      const full = `${pkg}.${short}`;
      const codec = eventCatalog.get(full);
      if (!codec) throw new Error(`no protobuf message ${full} in proto/ for event ${short}`);
      this.byShort.set(short, { full, encode: codec.encode });
      this.byFull.set(full, { short, decode: codec.decode, decodeRange: codec.decodeRange });
    }
  }

  handles(fullType: string): boolean {
    return this.byFull.has(fullType);
  }

  /** The type as the log stores it (`<package>.<Name>`) of an event of this codec's. */
  fullType(shortType: string): string {
    return this.byShort.get(shortType)?.full ?? shortType;
  }

  /** The full types of the events this codec handles. */
  get types(): readonly string[] {
    return [...this.byFull.keys()];
  }

  /**
   * The streams that hold every event this codec handles, by prefix (serviceStreams), for a
   * subscription's `streams`; undefined when they may be anywhere.
   */
  get streams(): readonly string[] | undefined {
    return streamsOfEventTypes(this.byFull.keys());
  }

  encode(event: E, occurredAt: number, ids: { eventId?: string; correlationId?: string; causationId?: string } = {}): NewEvent {
    const c = this.byShort.get(event.type)!;
    return { type: c.full, payload: c.encode(event.data), occurredAt, ...ids };
  }

  /**
   * Decodes a stored event of this codec's package; undefined for any other type. The result is
   * remembered on the stored event, so several projections of one service decode it once.
   */
  decode(stored: StoredEvent): RecordedEvent<E> | undefined {
    const memo = (stored as Memo)[DECODED];
    if (memo && memo.codec === this) return memo.event as RecordedEvent<E>;
    const c = this.byFull.get(stored.type);
    if (!c) return undefined;
    const event = {
      type: c.short,
      data: c.decode(stored.payload),
      meta: { streamId: stored.streamId, streamSeq: stored.streamSeq, occurredAt: stored.occurredAt, eventId: stored.eventId },
    } as RecordedEvent<E>;
    (stored as Memo)[DECODED] = { codec: this, event };
    return event;
  }

  /** Decodes a payload of this codec's package straight from a buffer (replay); undefined for any other type. */
  decodeRange(fullType: string, bytes: Uint8Array, start: number, end: number, meta: EventMeta): RecordedEvent<E> | undefined {
    const c = this.byFull.get(fullType);
    if (!c) return undefined;
    return { type: c.short, data: c.decodeRange(bytes, start, end), meta } as RecordedEvent<E>;
  }
}
