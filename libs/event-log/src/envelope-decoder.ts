import type { LogPosition, StoredEvent } from './envelope.js';

/**
 * Decodes an EventEnvelope (proto/opal/events/v1/envelope.proto) straight from the log's bytes.
 * Replay decodes every event, so this is the hot path: one pass over the fields, strings sliced
 * natively, bytes fields as views (no copies). Equivalent to the generated decoder (a unit test
 * checks it on random envelopes); unknown fields are skipped as protobuf requires.
 */
export function decodeEnvelopeFast(buf: Buffer, start: number, end: number, position: LogPosition): StoredEvent {
  let eventId = '';
  let type = '';
  let schemaVersion = 0;
  let streamId = '';
  let streamSeq = 0;
  let occurredAt = 0;
  let correlationId = '';
  let causationId = '';
  let producer = '';
  let payload: Uint8Array = EMPTY;
  let prevHash: Uint8Array = EMPTY;
  let hash: Uint8Array = EMPTY;
  let p = start;
  while (p < end) {
    // tag
    let tag = 0;
    let shift = 0;
    let b: number;
    do {
      b = buf[p++]!;
      tag |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
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
      if (field === 3) schemaVersion = v;
      else if (field === 5) streamSeq = v;
      else if (field === 6) occurredAt = hi & 0x80000000 ? -((~hi >>> 0) * 4294967296 + (~lo >>> 0) + 1) : v;
      continue;
    }
    if (wire === 2) {
      let len = 0;
      shift = 0;
      do {
        b = buf[p++]!;
        len |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      const from = p;
      p += len;
      switch (field) {
        case 1: eventId = buf.toString('utf8', from, p); break;
        case 2: type = interned(buf, from, p); break;
        case 4: streamId = interned(buf, from, p); break;
        case 7: correlationId = buf.toString('utf8', from, p); break;
        case 8: causationId = buf.toString('utf8', from, p); break;
        case 9: producer = interned(buf, from, p); break;
        case 10: payload = buf.subarray(from, p); break;
        case 11: prevHash = buf.subarray(from, p); break;
        case 12: hash = buf.subarray(from, p); break;
      }
      continue;
    }
    if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error(`envelope: unsupported wire type ${wire} at byte ${p - start}`);
  }
  if (p !== end) throw new Error('envelope: truncated');
  return { eventId, type, schemaVersion, streamId, streamSeq, occurredAt, correlationId, causationId, producer, payload, prevHash, hash, position };
}

const EMPTY = new Uint8Array(0);

// Types, stream ids and producers repeat from event to event: decoding each to the same string
// object saves the allocation, and later map lookups reuse the string's cached hash.
const INTERN_SLOTS = 4096;
const internBytes: (Buffer | undefined)[] = new Array(INTERN_SLOTS);
const internStrings: string[] = new Array(INTERN_SLOTS);

function interned(buf: Buffer, from: number, to: number): string {
  const len = to - from;
  if (len > 96) return buf.toString('utf8', from, to);
  let h = len;
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  const slot = (h >>> 0) % INTERN_SLOTS;
  const known = internBytes[slot];
  if (known !== undefined && known.length === len && buf.compare(known, 0, len, from, to) === 0) return internStrings[slot]!;
  const str = buf.toString('utf8', from, to);
  internBytes[slot] = Buffer.from(buf.subarray(from, to));
  internStrings[slot] = str;
  return str;
}
