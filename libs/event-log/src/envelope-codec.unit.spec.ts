import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { EventEnvelope } from '@opal/contracts/opal/events/v1/envelope.pb';
import { encodeEnvelopeFields, type EnvelopeFieldsForEncoding } from './envelope-codec.js';
import { computeEventHash, defaultEventId, encodeEnvelope, GENESIS_HASH, sealBatch } from './envelope.js';

function generated(e: EnvelopeFieldsForEncoding, hash: Uint8Array): Uint8Array {
  return EventEnvelope.encode({ ...e, streamSeq: BigInt(e.streamSeq), occurredAt: BigInt(e.occurredAt), hash }).finish();
}

// A deterministic generator, so a failure reproduces.
function* cases(): Generator<[EnvelopeFieldsForEncoding, Uint8Array]> {
  let x = 12345;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31) % n);
  const text = ['', 'a', 'DatanetCreated', 'é€😀 mixed ütf-8', 'x'.repeat(200), 'stream-42'];
  const nums = [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 + 5, 1_700_000_000_000, Number.MAX_SAFE_INTEGER];
  for (let i = 0; i < 500; i++) {
    const pick = <T>(a: readonly T[]) => a[rnd(a.length)]!;
    const e: EnvelopeFieldsForEncoding = {
      eventId: pick(text),
      type: pick(text),
      schemaVersion: pick([0, 1, 2, 300, 0xffffffff]),
      streamId: pick(text),
      streamSeq: pick(nums),
      occurredAt: rnd(4) === 0 ? -pick(nums) : pick(nums),
      correlationId: pick(text),
      causationId: pick(text),
      producer: pick(text),
      payload: randomBytes(pick([0, 1, 127, 128, 300, 20_000])),
      prevHash: randomBytes(pick([0, 32])),
    };
    yield [e, randomBytes(pick([0, 32]))];
  }
}

describe('envelope encoder', () => {
  it('writes exactly the bytes of the generated encoder, for defaults, unicode, varint edges and negative times', () => {
    for (const [e, hash] of cases()) {
      assert.deepEqual(Buffer.from(encodeEnvelopeFields(e, hash)), Buffer.from(generated(e, hash)), JSON.stringify({ ...e, payload: e.payload.length }));
    }
  });

  it('refuses numbers the wire types cannot hold', () => {
    const base = { eventId: 'e', type: 't', schemaVersion: 1, streamId: 's', streamSeq: 1, occurredAt: 1, correlationId: '', causationId: '', producer: 'p', payload: new Uint8Array(), prevHash: new Uint8Array() };
    assert.throws(() => encodeEnvelopeFields({ ...base, streamSeq: -1 }, new Uint8Array()), RangeError);
    assert.throws(() => encodeEnvelopeFields({ ...base, streamSeq: 1.5 }, new Uint8Array()), RangeError);
    assert.throws(() => encodeEnvelopeFields({ ...base, schemaVersion: 2 ** 32 }, new Uint8Array()), RangeError);
  });

  it('gives the chain the same hashes and event ids as the generated encoder with SHA-256', () => {
    for (const [e] of cases()) {
      const expected = createHash('sha256').update(generated(e, new Uint8Array())).digest();
      assert.deepEqual(Buffer.from(computeEventHash(e)), expected);
      const hash = computeEventHash(e);
      assert.deepEqual(Buffer.from(encodeEnvelope({ ...e, hash })), Buffer.from(generated(e, hash)));
    }
    assert.equal(defaultEventId('datanet-1', 7), createHash('sha256').update('datanet-1\u00007').digest('hex').slice(0, 32));
  });
});

describe('sealBatch', () => {
  it('gives each event the bytes encodeEnvelope writes for it, hash included, and chains the hashes', () => {
    const rnd = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) % 256);
    const events = [0, 1, 5, 300, 70_000].map((n, i) => ({
      type: `T${i}`,
      payload: rnd(n),
      occurredAt: i === 2 ? -5 : 1_700_000_000_000 + i,
      ...(i % 2 ? { correlationId: `c-${i}`, causationId: 'é' } : {}),
    }));
    const sealed = sealBatch('datanet-x', 'p', 7, GENESIS_HASH, events, (_e, seq) => defaultEventId('datanet-x', seq));
    let prev = GENESIS_HASH;
    for (const { event, bytes } of sealed) {
      assert.deepEqual(Buffer.from(bytes), Buffer.from(encodeEnvelope(event)));
      assert.deepEqual(event.prevHash, prev);
      assert.deepEqual(event.hash, computeEventHash(event));
      prev = event.hash;
    }
  });
});
