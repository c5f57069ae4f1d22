import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventLogError, TransientError } from '@opal/event-log';
import { InferenceServiceError } from '../../domain/inference.errors.js';
import { errorBody } from './openai-errors.js';

describe('OpenAI error envelopes', () => {
  it('gives service errors their status, type, code and the field named first', () => {
    const { status, body } = errorBody(new InferenceServiceError('INSUFFICIENT_BALANCE', 'balance: the request may cost up to 40 base units; 0 available'));
    assert.equal(status, 429);
    assert.deepEqual(body, { error: { message: 'balance: the request may cost up to 40 base units; 0 available', type: 'insufficient_quota', param: 'balance', code: 'insufficient_quota' } });
  });

  it('answers the log or store away with 503 and a contended balance with 409, which clients retry', () => {
    assert.equal(errorBody(new EventLogError('UNAVAILABLE', 'kafka append failed')).status, 503);
    assert.equal(errorBody(new TransientError('store away')).status, 503);
    const conflict = errorBody(new EventLogError('VERSION_CONFLICT', 'stream tenant-acme: expected version 4, current version 5'));
    assert.equal(conflict.status, 409);
    assert.match(JSON.stringify(conflict.body), /"code":"conflict"/);
  });

  it('keeps anything else internal, without its details', () => {
    for (const e of [new Error('secret detail'), new EventLogError('CORRUPT', 'hash mismatch at 7')]) {
      const { status, body } = errorBody(e);
      assert.equal(status, 500);
      assert.doesNotMatch(JSON.stringify(body), /secret|hash mismatch/);
    }
  });
});
