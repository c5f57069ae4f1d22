import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { replayProjections, selectProjections } from './replay.js';

describe('replayProjections', () => {
  it('replays the first upTo records, however many the log holds by then (every replay thread the same length)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-replay-'));
    try {
      const log = await EmbeddedEventLog.open(dir);
      const e = { type: 'opal.test.Noted', payload: new Uint8Array([1]), occurredAt: 1 };
      for (let i = 0; i < 10; i++) await log.append(`note-${i}`, [e], { expectedVersion: 'no_stream', producer: 't' });
      await log.close();
      const selected = selectProjections(['ingest']);
      assert.equal((await replayProjections(dir, selected, undefined, 4)).events, 4);
      assert.equal((await replayProjections(dir, selected)).events, 10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
