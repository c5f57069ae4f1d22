/**
 * Hand-written encoder for the EventEnvelope (proto/opal/events/v1/envelope.proto), byte for byte
 * what the generated ts-proto encoder writes (fields in number order, defaults omitted), about 5x
 * faster: it sizes the message first and writes into one buffer. Every append encodes each event
 * once: sealBatch hashes these bytes (hash field empty) and appends the hash field, which is last.
 * envelope-codec.unit.spec.ts checks the bytes against the generated encoder.
 */
import type { StoredEvent } from './envelope.js';

export type EnvelopeFieldsForEncoding = Omit<StoredEvent, 'position' | 'hash'>;

const TAG = { eventId: 10, type: 18, schemaVersion: 24, streamId: 34, streamSeq: 40, occurredAt: 48, correlationId: 58, causationId: 66, producer: 74, payload: 82, prevHash: 90, hash: 98 } as const;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 128) {
    buf[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** int64 as protobuf writes it: negative numbers as their 64-bit two's complement (10 bytes). */
function int64Bytes(n: number): number | Uint8Array {
  if (n >= 0) return n;
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 128n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function checkInteger(name: string, n: number, min: number): void {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${name}: expected an integer >= ${min}, got ${n}`);
}

export function encodeEnvelopeFields(e: EnvelopeFieldsForEncoding, hash: Uint8Array): Uint8Array {
  checkInteger('schemaVersion', e.schemaVersion, 0);
  if (e.schemaVersion > 0xffffffff) throw new RangeError(`schemaVersion: ${e.schemaVersion} does not fit uint32`);
  checkInteger('streamSeq', e.streamSeq, 0);
  checkInteger('occurredAt', e.occurredAt, Number.MIN_SAFE_INTEGER);
  const strings = [
    [TAG.eventId, e.eventId],
    [TAG.type, e.type],
    [TAG.streamId, e.streamId],
    [TAG.correlationId, e.correlationId],
    [TAG.causationId, e.causationId],
    [TAG.producer, e.producer],
  ] as const;
  const lengths = strings.map(([, s]) => Buffer.byteLength(s, 'utf8'));
  const occurred = int64Bytes(e.occurredAt);
  let size = 0;
  for (const len of lengths) if (len > 0) size += 1 + varintSize(len) + len;
  if (e.schemaVersion !== 0) size += 1 + varintSize(e.schemaVersion);
  if (e.streamSeq !== 0) size += 1 + varintSize(e.streamSeq);
  if (e.occurredAt !== 0) size += 1 + (typeof occurred === 'number' ? varintSize(occurred) : occurred.length);
  for (const b of [e.payload, e.prevHash, hash]) if (b.length > 0) size += 1 + varintSize(b.length) + b.length;

  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  const str = (i: number) => {
    const len = lengths[i]!;
    if (len === 0) return;
    buf[at++] = strings[i]![0];
    at = writeVarint(buf, at, len);
    at += buf.write(strings[i]![1], at, len, 'utf8');
  };
  const bytes = (tag: number, b: Uint8Array) => {
    if (b.length === 0) return;
    buf[at++] = tag;
    at = writeVarint(buf, at, b.length);
    buf.set(b, at);
    at += b.length;
  };
  str(0); // event_id
  str(1); // type
  if (e.schemaVersion !== 0) {
    buf[at++] = TAG.schemaVersion;
    at = writeVarint(buf, at, e.schemaVersion);
  }
  str(2); // stream_id
  if (e.streamSeq !== 0) {
    buf[at++] = TAG.streamSeq;
    at = writeVarint(buf, at, e.streamSeq);
  }
  if (e.occurredAt !== 0) {
    buf[at++] = TAG.occurredAt;
    if (typeof occurred === 'number') at = writeVarint(buf, at, occurred);
    else {
      buf.set(occurred, at);
      at += occurred.length;
    }
  }
  str(3); // correlation_id
  str(4); // causation_id
  str(5); // producer
  bytes(TAG.payload, e.payload);
  bytes(TAG.prevHash, e.prevHash);
  bytes(TAG.hash, hash);
  if (at !== size) throw new Error(`envelope encoder wrote ${at} bytes, sized ${size}`);
  return new Uint8Array(buf.buffer, buf.byteOffset, size);
}
