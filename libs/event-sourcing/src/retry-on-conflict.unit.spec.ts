import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventLogError } from '@opal/event-log';
import { CONFLICT_ATTEMPTS, CONFLICT_RETRY_MS, retryOnConflict } from './retry-on-conflict.js';

const conflict = () => new EventLogError('VERSION_CONFLICT', 'stream s: expected version 1, current version 2');

describe('retryOnConflict', () => {
  it(`with a caller's time bound, goes on deciding past its own ${CONFLICT_RETRY_MS} ms until the command goes through`, async () => {
    const started = Date.now();
    const losingFor = CONFLICT_RETRY_MS + 400;
    let attempts = 0;
    const result = await retryOnConflict(async () => {
      attempts++;
      if (Date.now() - started < losingFor) throw conflict();
      return 'landed';
    }, started + 2 * CONFLICT_RETRY_MS);
    assert.equal(result, 'landed');
    assert.ok(Date.now() - started >= losingFor);
    assert.ok(attempts > CONFLICT_ATTEMPTS, `${attempts} attempts`);
  });

  it(`with a time bound already past, still makes ${CONFLICT_ATTEMPTS} attempts, and passes on other errors at once`, async () => {
    let attempts = 0;
    await assert.rejects(
      retryOnConflict(async () => {
        attempts++;
        throw conflict();
      }, Date.now() - 1),
      (e: unknown) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT',
    );
    assert.equal(attempts, CONFLICT_ATTEMPTS);
    attempts = 0;
    await assert.rejects(
      retryOnConflict(async () => {
        attempts++;
        throw new EventLogError('UNAVAILABLE', 'broker away');
      }, Date.now() + 10_000),
      /broker away/,
    );
    assert.equal(attempts, 1);
  });
});
