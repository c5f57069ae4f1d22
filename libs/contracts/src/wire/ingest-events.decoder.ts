/**
 * Hand-written decoders for the ingest events every replay and every ingest projection reads by
 * the hundred thousand (ContributionSubmitted, ContributionAccepted, ContributionRejected). Each
 * returns exactly what the generated decoder returns for `bytes.subarray(start, end)` (same
 * fields, same defaults, bytes fields as views of the same buffer); it reads straight from the
 * log's buffer and answers repeated strings from a table. Anything outside the plain encoding the
 * encoder writes (unknown fields, other wire types, long varints, truncation) goes to the
 * generated decoder, so errors and edge cases are its own. ingest-events.decoder.unit.spec.ts
 * compares both on random messages.
 */
import { ContributionAccepted, ContributionRejected, ContributionSubmitted } from '../gen/opal/ingest/v1/events.pb.js';
import { internedString } from './interned-string.js';

export type RangeDecoder = (bytes: Uint8Array, start: number, end: number) => unknown;

/** Thrown inside a fast decoder to hand the message to the generated one. */
const SLOW = Symbol('slow');

/** A length-delimited field's bounds, or SLOW; `at` points at its length prefix. */
function lengthAt(bytes: Uint8Array, at: number, end: number): number {
  if (at >= end) throw SLOW;
  const b = bytes[at]!;
  if (b < 0x80) {
    if (at + 1 + b > end) throw SLOW;
    return b;
  }
  if (at + 1 >= end) throw SLOW;
  const b2 = bytes[at + 1]!;
  if (b2 >= 0x80) throw SLOW; // 16 KiB and more: rare for these messages
  const len = (b & 0x7f) | (b2 << 7);
  if (at + 2 + len > end) throw SLOW;
  return len;
}

const prefix = (len: number) => (len < 0x80 ? 1 : 2);

/** A varint of up to 4 bytes (uint32 below 2^28); longer ones go to the generated decoder. */
function smallVarint(bytes: Uint8Array, at: number, end: number): number {
  let v = 0;
  for (let i = 0; i < 4 && at + i < end; i++) {
    const b = bytes[at + i]!;
    v |= (b & 0x7f) << (7 * i);
    if (b < 0x80) return v;
  }
  throw SLOW;
}

/** A uint64 varint of up to 7 bytes (below 2^49) as a bigint; longer ones go to the generated decoder. */
function uint64Varint(bytes: Uint8Array, at: number, end: number): number {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 7 && at + i < end; i++) {
    const b = bytes[at + i]!;
    v += (b & 0x7f) * scale;
    if (b < 0x80) return v;
    scale *= 128;
  }
  throw SLOW;
}

const varintLength = (bytes: Uint8Array, at: number) => {
  let n = 1;
  while (bytes[at + n - 1]! & 0x80) n++;
  return n;
};

function text(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function fastOrGenerated<T>(fast: (bytes: Uint8Array, start: number, end: number) => T, generated: { decode(b: Uint8Array): T }): (bytes: Uint8Array, start: number, end: number) => T {
  return (bytes, start, end) => {
    try {
      return fast(bytes, start, end);
    } catch (error) {
      if (error === SLOW) return generated.decode(bytes.subarray(start, end));
      throw error;
    }
  };
}

function submitted(bytes: Uint8Array, start: number, end: number): ContributionSubmitted {
  const s = text(bytes);
  const m: ContributionSubmitted = { datanetId: '', contributionId: '', contributor: '', contentHash: '', sizeBytes: 0, nonce: 0n, signature: new Uint8Array(0), minhash: new Uint8Array(0) };
  let p = start;
  while (p < end) {
    const tag = bytes[p++]!;
    if (tag === 40) {
      m.sizeBytes = smallVarint(bytes, p, end);
      p += varintLength(bytes, p);
      continue;
    }
    if (tag === 48) {
      m.nonce = BigInt(uint64Varint(bytes, p, end));
      p += varintLength(bytes, p);
      continue;
    }
    if ((tag & 7) !== 2) throw SLOW;
    const len = lengthAt(bytes, p, end);
    const from = p + prefix(len);
    p = from + len;
    switch (tag) {
      case 10: m.datanetId = internedString(s, from, p); break;
      case 18: m.contributionId = internedString(s, from, p); break;
      case 26: m.contributor = internedString(s, from, p); break;
      case 34: m.contentHash = internedString(s, from, p); break;
      case 58: m.signature = bytes.subarray(from, p); break;
      case 66: m.minhash = bytes.subarray(from, p); break;
      default: throw SLOW;
    }
  }
  if (p !== end) throw SLOW;
  return m;
}

function accepted(bytes: Uint8Array, start: number, end: number): ContributionAccepted {
  const s = text(bytes);
  const m: ContributionAccepted = { datanetId: '', contributionId: '', contributor: '', contentHash: '', sizeBytes: 0 };
  let p = start;
  while (p < end) {
    const tag = bytes[p++]!;
    if (tag === 40) {
      m.sizeBytes = smallVarint(bytes, p, end);
      p += varintLength(bytes, p);
      continue;
    }
    if ((tag & 7) !== 2) throw SLOW;
    const len = lengthAt(bytes, p, end);
    const from = p + prefix(len);
    p = from + len;
    switch (tag) {
      case 10: m.datanetId = internedString(s, from, p); break;
      case 18: m.contributionId = internedString(s, from, p); break;
      case 26: m.contributor = internedString(s, from, p); break;
      case 34: m.contentHash = internedString(s, from, p); break;
      default: throw SLOW;
    }
  }
  if (p !== end) throw SLOW;
  return m;
}

function rejected(bytes: Uint8Array, start: number, end: number): ContributionRejected {
  const s = text(bytes);
  const m: ContributionRejected = { datanetId: '', contributionId: '', contributor: '', reason: '', detail: '', duplicateOf: '', contentHash: '', sizeBytes: 0, nonce: 0n };
  let p = start;
  while (p < end) {
    const tag = bytes[p++]!;
    if (tag === 64) {
      m.sizeBytes = smallVarint(bytes, p, end);
      p += varintLength(bytes, p);
      continue;
    }
    if (tag === 72) {
      m.nonce = BigInt(uint64Varint(bytes, p, end));
      p += varintLength(bytes, p);
      continue;
    }
    if ((tag & 7) !== 2) throw SLOW;
    const len = lengthAt(bytes, p, end);
    const from = p + prefix(len);
    p = from + len;
    switch (tag) {
      case 10: m.datanetId = internedString(s, from, p); break;
      case 18: m.contributionId = internedString(s, from, p); break;
      case 26: m.contributor = internedString(s, from, p); break;
      case 34: m.reason = internedString(s, from, p); break;
      case 42: m.detail = internedString(s, from, p); break;
      case 50: m.duplicateOf = internedString(s, from, p); break;
      case 58: m.contentHash = internedString(s, from, p); break;
      default: throw SLOW;
    }
  }
  if (p !== end) throw SLOW;
  return m;
}

/** Fast decoders by fully qualified event type. */
export const ingestRangeDecoders: ReadonlyMap<string, RangeDecoder> = new Map<string, RangeDecoder>([
  ['opal.ingest.v1.ContributionSubmitted', fastOrGenerated(submitted, ContributionSubmitted)],
  ['opal.ingest.v1.ContributionAccepted', fastOrGenerated(accepted, ContributionAccepted)],
  ['opal.ingest.v1.ContributionRejected', fastOrGenerated(rejected, ContributionRejected)],
]);
