import { internedString, utf8Slice } from '@opal/contracts';
import type { LogPosition, StoredEvent } from './envelope.js';

/**
 * An EventEnvelope (proto/opal/events/v1/envelope.proto) read in place from the log's bytes: the
 * numbers, the type and stream id as strings (repeated from event to event, so interned), and
 * every other field as a byte range of `buf`, decoded only by whoever needs it. Replay reads
 * every event of the log through one reused view, so this is the hot path.
 */
export class EnvelopeView {
  buf: Buffer = EMPTY_BUFFER;
  type = '';
  streamId = '';
  schemaVersion = 0;
  streamSeq = 0;
  occurredAt = 0;
  eventIdStart = 0;
  eventIdEnd = 0;
  correlationIdStart = 0;
  correlationIdEnd = 0;
  causationIdStart = 0;
  causationIdEnd = 0;
  producerStart = 0;
  producerEnd = 0;
  payloadStart = 0;
  payloadEnd = 0;
  prevHashStart = 0;
  prevHashEnd = 0;
  hashStart = 0;
  hashEnd = 0;

  eventId(): string {
    return utf8Slice(this.buf, this.eventIdStart, this.eventIdEnd);
  }

  /** The whole StoredEvent, every field decoded. */
  toStoredEvent(position: LogPosition): StoredEvent {
    const b = this.buf;
    return {
      eventId: this.eventId(),
      type: this.type,
      schemaVersion: this.schemaVersion,
      streamId: this.streamId,
      streamSeq: this.streamSeq,
      occurredAt: this.occurredAt,
      correlationId: this.correlationIdEnd > this.correlationIdStart ? b.toString('utf8', this.correlationIdStart, this.correlationIdEnd) : '',
      causationId: this.causationIdEnd > this.causationIdStart ? b.toString('utf8', this.causationIdStart, this.causationIdEnd) : '',
      producer: internedString(b, this.producerStart, this.producerEnd),
      payload: this.payloadEnd > this.payloadStart ? b.subarray(this.payloadStart, this.payloadEnd) : EMPTY,
      prevHash: this.prevHashEnd > this.prevHashStart ? b.subarray(this.prevHashStart, this.prevHashEnd) : EMPTY,
      hash: this.hashEnd > this.hashStart ? b.subarray(this.hashStart, this.hashEnd) : EMPTY,
      position,
    };
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * Reads the envelope in `buf[start, end)` into `view` in one pass over the fields; unknown fields
 * are skipped as protobuf requires. Equivalent to the generated decoder (a unit test checks it on
 * random envelopes).
 */
export function readEnvelopeView(buf: Buffer, start: number, end: number, view: EnvelopeView): EnvelopeView {
  view.buf = buf;
  view.type = '';
  view.streamId = '';
  view.schemaVersion = 0;
  view.streamSeq = 0;
  view.occurredAt = 0;
  view.eventIdStart = view.eventIdEnd = 0;
  view.correlationIdStart = view.correlationIdEnd = 0;
  view.causationIdStart = view.causationIdEnd = 0;
  view.producerStart = view.producerEnd = 0;
  view.payloadStart = view.payloadEnd = 0;
  view.prevHashStart = view.prevHashEnd = 0;
  view.hashStart = view.hashEnd = 0;
  let p = start;
  while (p < end) {
    // tag: one byte for every field of the envelope
    let b = buf[p++]!;
    let tag = b & 0x7f;
    let shift = 7;
    while (b & 0x80) {
      b = buf[p++]!;
      tag |= (b & 0x7f) << shift;
      shift += 7;
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      // varint, up to 64 bits: exact as a double while below 2^53
      let lo = 0;
      let hi = 0;
      let s = 0;
      do {
        b = buf[p++]!;
        if (s < 28) lo |= (b & 0x7f) << s;
        else if (s === 28) {
          lo |= (b & 0x0f) << 28;
          hi |= (b & 0x7f) >>> 4;
        } else hi |= (b & 0x7f) << (s - 32);
        s += 7;
      } while (b & 0x80);
      const v = (hi >>> 0) * 4294967296 + (lo >>> 0);
      if (field === 3) view.schemaVersion = v;
      else if (field === 5) view.streamSeq = v;
      else if (field === 6) view.occurredAt = hi & 0x80000000 ? -((~hi >>> 0) * 4294967296 + (~lo >>> 0) + 1) : v;
      continue;
    }
    if (wire === 2) {
      b = buf[p++]!;
      let len = b & 0x7f;
      shift = 7;
      while (b & 0x80) {
        b = buf[p++]!;
        len |= (b & 0x7f) << shift;
        shift += 7;
      }
      const from = p;
      p += len;
      if (p > end) break;
      switch (field) {
        case 1: view.eventIdStart = from; view.eventIdEnd = p; break;
        case 2: view.type = internedString(buf, from, p); break;
        case 4: view.streamId = internedString(buf, from, p); break;
        case 7: view.correlationIdStart = from; view.correlationIdEnd = p; break;
        case 8: view.causationIdStart = from; view.causationIdEnd = p; break;
        case 9: view.producerStart = from; view.producerEnd = p; break;
        case 10: view.payloadStart = from; view.payloadEnd = p; break;
        case 11: view.prevHashStart = from; view.prevHashEnd = p; break;
        case 12: view.hashStart = from; view.hashEnd = p; break;
      }
      continue;
    }
    if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error(`envelope: unsupported wire type ${wire} at byte ${p - start}`);
  }
  if (p !== end) throw new Error('envelope: truncated');
  return view;
}

/** Decodes every field of the envelope in `buf[start, end)`. */
export function decodeEnvelopeFast(buf: Buffer, start: number, end: number, position: LogPosition): StoredEvent {
  return readEnvelopeView(buf, start, end, scratch).toStoredEvent(position);
}

const scratch = new EnvelopeView();
