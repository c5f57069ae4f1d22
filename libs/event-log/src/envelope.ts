import { hash as sha } from 'node:crypto';
import { EventEnvelope } from '@opal/contracts/opal/events/v1/envelope.pb';
import { encodeEnvelopeFields } from './envelope-codec.js';
import { EventLogError } from './errors.js';

/** Where an event sits in the log: a partition (the embedded log has one) and an offset inside it. */
export type LogPosition = { readonly partition: string; readonly offset: number };

/** An event as a producer hands it to the log; the log assigns stream sequence and hashes. */
export type NewEvent = {
  readonly type: string;
  readonly payload: Uint8Array;
  readonly occurredAt: number;
  readonly schemaVersion?: number;
  readonly eventId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
};

/**
 * The largest payload an event may carry, on every adapter. Kafka topics take records up to 64 MiB
 * (`max.message.bytes`), and the envelope and the record's framing fit in the last MiB. The embedded
 * log holds to the same limit, so any log it writes can move to Kafka (`opal log import`).
 */
export const MAX_PAYLOAD_BYTES = 63 << 20;

/** Refuses a batch that holds an event over MAX_PAYLOAD_BYTES, before anything of it is written. */
export function checkPayloads(events: readonly NewEvent[]): void {
  for (let i = 0; i < events.length; i++) {
    const bytes = events[i]!.payload.length;
    if (bytes > MAX_PAYLOAD_BYTES) {
      throw new EventLogError('INVALID_ARGUMENT', `payload: event ${i} (${events[i]!.type}) is ${bytes} bytes; an event carries at most ${MAX_PAYLOAD_BYTES}`);
    }
  }
}

/** An event as the log stores and delivers it. */
export type StoredEvent = {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly streamId: string;
  readonly streamSeq: number;
  readonly occurredAt: number;
  readonly correlationId: string;
  readonly causationId: string;
  readonly producer: string;
  readonly payload: Uint8Array;
  readonly prevHash: Uint8Array;
  readonly hash: Uint8Array;
  readonly position: LogPosition;
  /**
   * W3C trace context of the append, where the log carries one (Kafka record headers, with tracing
   * on); not part of the envelope, its hash or its export.
   */
  readonly traceparent?: string;
};

export const GENESIS_HASH: Uint8Array = new Uint8Array(32);

type EnvelopeFields = Omit<StoredEvent, 'position' | 'hash'> & { hash?: Uint8Array };

const EMPTY = new Uint8Array(0);

/** SHA-256 of the envelope encoded with an empty hash field: the link of the stream's chain. */
export function computeEventHash(e: EnvelopeFields): Uint8Array {
  const bytes = encodeEnvelopeFields(e, EMPTY);
  return new Uint8Array(sha('sha256', bytes, 'buffer'));
}

export function encodeEnvelope(e: EnvelopeFields & { hash: Uint8Array }): Uint8Array {
  return encodeEnvelopeFields(e, e.hash);
}

export function decodeEnvelope(bytes: Uint8Array, position: LogPosition): StoredEvent {
  const m = EventEnvelope.decode(bytes);
  return {
    eventId: m.eventId,
    type: m.type,
    schemaVersion: m.schemaVersion,
    streamId: m.streamId,
    streamSeq: Number(m.streamSeq),
    occurredAt: Number(m.occurredAt),
    correlationId: m.correlationId,
    causationId: m.causationId,
    producer: m.producer,
    payload: m.payload,
    prevHash: m.prevHash,
    hash: m.hash,
    position,
  };
}

/** The stored event at a position, built field by field (one object shape on hot paths). */
export function atPosition(e: Omit<StoredEvent, 'position'>, position: LogPosition): StoredEvent {
  return {
    eventId: e.eventId,
    type: e.type,
    schemaVersion: e.schemaVersion,
    streamId: e.streamId,
    streamSeq: e.streamSeq,
    occurredAt: e.occurredAt,
    correlationId: e.correlationId,
    causationId: e.causationId,
    producer: e.producer,
    payload: e.payload,
    prevHash: e.prevHash,
    hash: e.hash,
    position,
  };
}

/** A sealed event and its envelope bytes (hash included), encoded once. */
export type SealedEvent = { readonly event: Omit<StoredEvent, 'position'>; readonly bytes: Uint8Array };

/**
 * Builds the stored form of a batch for one stream, chaining hashes from the stream's last hash,
 * with each envelope's bytes. The hash field is the envelope's last, so the stored bytes are the
 * bytes that were hashed followed by that field: each event is encoded once.
 */
export function sealBatch(
  streamId: string,
  producer: string,
  fromSeq: number,
  prevHash: Uint8Array,
  events: readonly NewEvent[],
  eventIdOf: (e: NewEvent, seq: number) => string,
): SealedEvent[] {
  const out: SealedEvent[] = [];
  let prev = prevHash;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const seq = fromSeq + i;
    const event = {
      eventId: e.eventId ?? eventIdOf(e, seq),
      type: e.type,
      schemaVersion: e.schemaVersion ?? 1,
      streamId,
      streamSeq: seq,
      occurredAt: e.occurredAt,
      correlationId: e.correlationId ?? '',
      causationId: e.causationId ?? '',
      producer,
      payload: e.payload,
      prevHash: prev,
      hash: EMPTY,
    };
    // Encoded once, with room for the hash field: the bytes hashed are the stored bytes' prefix.
    const hashed = encodeEnvelopeFields(event, EMPTY, HASH_FIELD_HEAD.length + 32);
    const digest = sha('sha256', hashed, 'buffer');
    const hash = new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
    const bytes = new Uint8Array(hashed.buffer, hashed.byteOffset, hashed.length + HASH_FIELD_HEAD.length + hash.length);
    bytes.set(HASH_FIELD_HEAD, hashed.length);
    bytes.set(hash, hashed.length + HASH_FIELD_HEAD.length);
    event.hash = hash;
    out.push({ event, bytes });
    prev = hash;
  }
  return out;
}

/** Tag (field 12, length-delimited) and length (32) of the envelope's hash field. */
const HASH_FIELD_HEAD = Uint8Array.of(98, 32);

/** The event id a log assigns when the producer gave none: the same in every adapter, so chains match. */
export function defaultEventId(streamId: string, seq: number): string {
  return sha('sha256', `${streamId}\u0000${seq}`, 'hex').slice(0, 32);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
