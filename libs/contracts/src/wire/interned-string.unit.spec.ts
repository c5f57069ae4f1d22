import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { internedString } from './interned-string.js';

describe('internedString', () => {
  it('decodes exactly as UTF-8 decoding does, for repeated, near-identical and non-ASCII strings', () => {
    const pool: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const kind = randomInt(4);
      if (kind === 0) pool.push(randomBytes(randomInt(0, 140))); // invalid UTF-8 too
      else if (kind === 1) pool.push(Buffer.from(randomBytes(randomInt(0, 70)).toString('hex')));
      else if (kind === 2) pool.push(Buffer.from(`0x${'ab'.repeat(20)}${['', 'é', '\u0080', 'A', '✓'][randomInt(5)]}`));
      else pool.push(Buffer.from('x'.repeat(randomInt(0, 20)) + String.fromCharCode(randomInt(0x20, 0x100)) + 'y'.repeat(randomInt(0, 20))));
    }
    for (let i = 0; i < 100_000; i++) {
      const b = pool[randomInt(pool.length)]!;
      const before = randomInt(5);
      const framed = Buffer.concat([randomBytes(before), b, randomBytes(3)]);
      assert.equal(internedString(framed, before, before + b.length), b.toString('utf8'));
    }
  });
});
