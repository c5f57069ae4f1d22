import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import '../text-encoding.js';
import { ContributionAccepted, ContributionRejected, ContributionSubmitted } from '../gen/opal/ingest/v1/events.pb.js';
import { ingestRangeDecoders } from './ingest-events.decoder.js';

type Generated = { encode(m: never): { finish(): Uint8Array }; decode(b: Uint8Array): unknown };

const words = ['', 'a', 'bench-3', 'DUPLICATE', 'ünïcødé ✓', '0x' + 'ab'.repeat(20), '0x' + 'cd'.repeat(32), 'x'.repeat(200), 'y'.repeat(20_000)];
const pick = <T>(xs: readonly T[]): T => xs[randomInt(xs.length)]!;
const text = () => (randomInt(4) === 0 ? randomBytes(randomInt(40)).toString('hex') : pick(words));
const bytes = () => new Uint8Array(randomBytes(pick([0, 1, 65, 300, 512, 20_000])));
const u32 = () => pick([0, 1, 127, 128, 1024, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1]);
const u64 = () => pick([0n, 1n, 127n, 128n, 2n ** 48n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n + 1n, 2n ** 64n - 1n, BigInt(randomInt(2 ** 40))]);

const messages: Record<string, [Generated, () => object]> = {
  'opal.ingest.v1.ContributionSubmitted': [
    ContributionSubmitted,
    () => ({ datanetId: text(), contributionId: text(), contributor: text(), contentHash: text(), sizeBytes: u32(), nonce: u64(), signature: bytes(), minhash: bytes() }),
  ],
  'opal.ingest.v1.ContributionAccepted': [ContributionAccepted, () => ({ datanetId: text(), contributionId: text(), contributor: text(), contentHash: text(), sizeBytes: u32() })],
  'opal.ingest.v1.ContributionRejected': [
    ContributionRejected,
    () => ({ datanetId: text(), contributionId: text(), contributor: text(), reason: text(), detail: text(), duplicateOf: text(), contentHash: text(), sizeBytes: u32(), nonce: u64() }),
  ],
};

/** Appends fields the message does not know (any wire type) or the same field again. */
function withExtras(encoded: Uint8Array): Uint8Array {
  const extras = pick([
    [],
    [0xf8, 0x01, 0x05], // field 31, varint
    [0x7a, 0x02, 0x61, 0x62], // field 15, bytes
    [0x0d, 1, 2, 3, 4], // field 1 as fixed32: wrong wire type
    [0x28, 0x96, 0x01], // field 5 varint again: last one wins
    [0x0a, 0x03, 0x78, 0x79, 0x7a], // field 1 string again
  ]);
  return Uint8Array.from([...encoded, ...extras]);
}

describe('ingest fast decoders', () => {
  for (const [type, [generated, random]] of Object.entries(messages)) {
    it(`${type.split('.').pop()}: the same objects as the generated decoder, inside a larger buffer or alone`, () => {
      const fast = ingestRangeDecoders.get(type)!;
      for (let i = 0; i < 400; i++) {
        const encoded = withExtras(generated.encode(random() as never).finish());
        const before = randomInt(20);
        const framed = Buffer.concat([randomBytes(before), encoded, randomBytes(randomInt(20))]);
        const payload = framed.subarray(before, before + encoded.length);
        assert.deepStrictEqual(fast(framed, before, before + encoded.length), generated.decode(payload));
        // A plain Uint8Array stays one: bytes fields are views of whatever was given.
        const plain = new Uint8Array(encoded);
        assert.deepStrictEqual(fast(plain, 0, plain.length), generated.decode(plain));
      }
    });

    it(`${type.split('.').pop()}: a truncated message fails as the generated decoder fails`, () => {
      const fast = ingestRangeDecoders.get(type)!;
      for (let i = 0; i < 200; i++) {
        const encoded = Buffer.from(generated.encode(random() as never).finish());
        if (encoded.length < 2) continue;
        const cut = encoded.subarray(0, randomInt(1, encoded.length));
        let expected: unknown;
        try {
          expected = generated.decode(cut);
        } catch (error) {
          assert.throws(() => fast(cut, 0, cut.length), { message: (error as Error).message });
          continue;
        }
        assert.deepStrictEqual(fast(cut, 0, cut.length), expected);
      }
    });
  }
});
