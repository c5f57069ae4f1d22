import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { decodeEnvelopeFast } from './envelope-decoder.js';

describe('decodeEnvelopeFast', () => {
  it('decodes exactly what the generated decoder decodes', () => {
    const pos = { partition: 'log', offset: 7 };
    for (let i = 0; i < 500; i++) {
      const r = randomBytes(8);
      const e = {
        eventId: randomBytes(r[0]! % 40).toString('hex'),
        type: i % 7 === 0 ? '' : `opal.test.v1.Event${i}`,
        schemaVersion: r[1]! % 3,
        streamId: `stream-ü-${i}-${randomBytes(4).toString('hex')}`,
        streamSeq: i % 5 === 0 ? 2 ** 40 + i : i,
        occurredAt: i % 11 === 0 ? -1_000_000 - i : 1_700_000_000_000 + i * 977,
        correlationId: i % 2 ? 'corr' : '',
        causationId: i % 3 ? '' : 'cause-✓',
        producer: 'ingest',
        payload: new Uint8Array(randomBytes(r[2]! * 3)),
        prevHash: new Uint8Array(randomBytes(32)),
        hash: new Uint8Array(randomBytes(i % 4 ? 32 : 0)),
      };
      const bytes = Buffer.from(encodeEnvelope(e));
      const framed = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([9])]);
      const fast = decodeEnvelopeFast(framed, 3, 3 + bytes.length, pos);
      const slow = decodeEnvelope(bytes, pos);
      assert.deepEqual({ ...fast, payload: [...fast.payload], prevHash: [...fast.prevHash], hash: [...fast.hash] }, { ...slow, payload: [...slow.payload], prevHash: [...slow.prevHash], hash: [...slow.hash] });
    }
  });
});
