import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLogContract } from '../testing/event-log.contract.js';
import { EmbeddedEventLog } from './embedded-event-log.adapter.js';

eventLogContract('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-log-'));
  let log = await EmbeddedEventLog.open(dir);
  return {
    log,
    async reopen() {
      await log.close();
      log = await EmbeddedEventLog.open(dir);
      return log;
    },
    async cleanup() {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded event log file', () => {
  it('cuts a torn tail left by a crash and keeps appending on a record boundary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-log-'));
    try {
      let log = await EmbeddedEventLog.open(dir);
      const p = { type: 'A', payload: new Uint8Array([1, 2, 3]), occurredAt: 1 };
      await log.append('s', [p, p], { expectedVersion: 'no_stream', producer: 't' });
      await log.close();
      const good = statSync(join(dir, 'events.log')).size;
      appendFileSync(join(dir, 'events.log'), Buffer.from([200, 0, 0, 0, 1, 2, 3])); // half a record
      log = await EmbeddedEventLog.open(dir);
      assert.equal(statSync(join(dir, 'events.log')).size, good);
      assert.equal(await log.streamVersion('s'), 2);
      await log.append('s', [p], { expectedVersion: 2, producer: 't' });
      await log.close();
      log = await EmbeddedEventLog.open(dir);
      assert.deepEqual((await log.readStream('s')).map((e) => e.streamSeq), [1, 2, 3]);
      await log.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
