import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceServiceError } from '../domain/inference.errors.js';
import { GenerateHandler } from './generate.handler.js';

// A request's fields are checked before anything is held for it.

describe('Generate: bad sampling fields', () => {
  const held: string[] = [];
  const handler = new GenerateHandler(
    { target: async () => ({ base: { id: 'b' }, adapter: null }) } as any,
    { authenticate: async () => 't' } as any,
    { hold: async (_t: string, id: string) => (held.push(id), { expiresAt: Date.now() + 60_000 }) } as any,
    {} as any,
    { refused() {} } as any,
    {} as any,
    { now: () => 1 },
    { defaultMaxTokens: 16, holdMs: 60_000 } as any,
    {} as any,
  );
  const request = { apiKey: 'k', model: 'm', prompt: 'p', maxTokens: 4, stop: [] as string[], retrievedContributions: [] };

  it('are INVALID_FIELD naming the field, and nothing is held', async () => {
    const cases: [object, RegExp][] = [
      [{ temperature: Number.NaN }, /^temperature: a number from 0 to 2$/],
      [{ temperature: -1 }, /^temperature: /],
      [{ topP: 1.5 }, /^top_p: a number from 0 to 1$/],
      [{ topK: -3 }, /^top_k: /],
      [{ topK: 2.5 }, /^top_k: /],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, /^stop: at most 4 sequences$/],
      [{ stop: ['a', ''] }, /^stop\[1\]: not empty$/],
      [{ retrievedContributions: [`0x${'a'.repeat(64)}`, 'zzz'] }, /^retrieved_contributions\[1\]: a contribution id \(0x and 64 hex digits\), got "zzz"$/],
      [{ retrievedContributions: Array.from({ length: 1001 }, () => `0x${'a'.repeat(64)}`) }, /^retrieved_contributions: at most 1000/],
    ];
    for (const [fields, message] of cases) {
      await assert.rejects(handler.start({ ...request, ...fields }), (e: unknown) => e instanceof InferenceServiceError && e.code === 'INVALID_FIELD' && message.test(e.message), JSON.stringify(fields));
    }
    assert.deepEqual(held, []);
  });

  it('within their ranges, the request goes on to its hold', async () => {
    await handler.start({ ...request, temperature: 0.7, topP: 0.9, topK: 40, stop: ['\n'], retrievedContributions: [`0x${'b'.repeat(64)}`] });
    assert.equal(held.length, 1);
  });
});
