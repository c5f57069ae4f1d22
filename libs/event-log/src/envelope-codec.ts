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

/**
 * UTF-8 length of a string; envelope strings are short and almost always ASCII, which is counted
 * here without a call into the runtime.
 */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes a length-delimited string field of `len` UTF-8 bytes (nothing for an empty one). */
function writeString(buf: Buffer, at: number, tag: number, s: string, len: number): number {
  if (len === 0) return at;
  buf[at++] = tag;
  at = writeVarint(buf, at, len);
  if (len === s.length) for (let i = 0; i < len; i++) buf[at + i] = s.charCodeAt(i);
  else buf.write(s, at, len, 'utf8');
  return at + len;
}

function writeBytes(buf: Buffer, at: number, tag: number, b: Uint8Array): number {
  if (b.length === 0) return at;
  buf[at++] = tag;
  at = writeVarint(buf, at, b.length);
  buf.set(b, at);
  return at + b.length;
}

const stringFieldSize = (len: number) => (len > 0 ? 1 + varintSize(len) + len : 0);
const bytesFieldSize = (b: Uint8Array) => (b.length > 0 ? 1 + varintSize(b.length) + b.length : 0);

/**
 * The envelope's bytes with the given hash field. `spare` bytes are allocated past the end (the
 * returned view leaves them out) for the caller to append a field without copying the rest.
 */
export function encodeEnvelopeFields(e: EnvelopeFieldsForEncoding, hash: Uint8Array, spare = 0): Uint8Array {
  checkInteger('schemaVersion', e.schemaVersion, 0);
  if (e.schemaVersion > 0xffffffff) throw new RangeError(`schemaVersion: ${e.schemaVersion} does not fit uint32`);
  checkInteger('streamSeq', e.streamSeq, 0);
  checkInteger('occurredAt', e.occurredAt, Number.MIN_SAFE_INTEGER);
  const eventId = utf8Length(e.eventId);
  const type = utf8Length(e.type);
  const streamId = utf8Length(e.streamId);
  const correlationId = utf8Length(e.correlationId);
  const causationId = utf8Length(e.causationId);
  const producer = utf8Length(e.producer);
  const occurred = int64Bytes(e.occurredAt);
  let size =
    stringFieldSize(eventId) +
    stringFieldSize(type) +
    stringFieldSize(streamId) +
    stringFieldSize(correlationId) +
    stringFieldSize(causationId) +
    stringFieldSize(producer) +
    bytesFieldSize(e.payload) +
    bytesFieldSize(e.prevHash) +
    bytesFieldSize(hash);
  if (e.schemaVersion !== 0) size += 1 + varintSize(e.schemaVersion);
  if (e.streamSeq !== 0) size += 1 + varintSize(e.streamSeq);
  if (e.occurredAt !== 0) size += 1 + (typeof occurred === 'number' ? varintSize(occurred) : occurred.length);

  const buf = Buffer.allocUnsafe(size + spare);
  let at = writeString(buf, 0, TAG.eventId, e.eventId, eventId);
  at = writeString(buf, at, TAG.type, e.type, type);
  if (e.schemaVersion !== 0) {
    buf[at++] = TAG.schemaVersion;
    at = writeVarint(buf, at, e.schemaVersion);
  }
  at = writeString(buf, at, TAG.streamId, e.streamId, streamId);
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
  at = writeString(buf, at, TAG.correlationId, e.correlationId, correlationId);
  at = writeString(buf, at, TAG.causationId, e.causationId, causationId);
  at = writeString(buf, at, TAG.producer, e.producer, producer);
  at = writeBytes(buf, at, TAG.payload, e.payload);
  at = writeBytes(buf, at, TAG.prevHash, e.prevHash);
  at = writeBytes(buf, at, TAG.hash, hash);
  if (at !== size) throw new Error(`envelope encoder wrote ${at} bytes, sized ${size}`);
  return new Uint8Array(buf.buffer, buf.byteOffset, size);
}
