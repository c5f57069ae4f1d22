import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLogContract } from '../testing/event-log.contract.js';
import { EmbeddedEventLog } from './embedded-event-log.adapter.js';
import { EventLogError } from '../errors.js';
import { frameRecord, refuseDamage, scanLogFile } from './log-file.js';

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
  it('refuses to open for reading where there is no log, and creates nothing there', async () => {
    const dir = join(tmpdir(), `opal-no-log-${process.pid}-${Date.now()}`);
    await assert.rejects(EmbeddedEventLog.open(dir, { readOnly: true }), (e: unknown) => e instanceof EventLogError && e.code === 'FAILED_PRECONDITION' && e.message.includes(`${join(dir, 'events.log')}: no such file`));
    assert.equal(existsSync(dir), false);
  });

  it('takes a log read while a write was half done for a torn tail, not damage, once the write has completed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-log-'));
    try {
      const file = join(dir, 'events.log');
      const record = (i: number) => frameRecord(Buffer.alloc(200, i));
      writeFileSync(file, Buffer.concat([record(1), record(2)]));
      // A group commit of two records, read by an export while its write was copied: the scan
      // ends inside the first of them.
      const batch = Buffer.concat([record(3), record(4)]);
      appendFileSync(file, batch.subarray(0, 100));
      const scan = scanLogFile(file, () => {});
      assert.equal(scan.records, 2);
      appendFileSync(file, batch.subarray(100));
      // Judged on what was there at the scan: it was a live log's tail, not a damaged record with
      // whole ones after it (whose error tells the operator to cut the file there).
      refuseDamage(file, scan, 'event log');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to open a log with a damaged record in the middle, for writing or reading, and cuts nothing off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-log-'));
    try {
      let log = await EmbeddedEventLog.open(dir);
      const p = { type: 'A', payload: new Uint8Array([1, 2, 3]), occurredAt: 1 };
      for (let i = 0; i < 10; i++) await log.append(`s-${i}`, [p], { expectedVersion: 'no_stream', producer: 't' });
      await log.close();
      const file = join(dir, 'events.log');
      const bytes = readFileSync(file);
      const size = bytes.length;
      // One bit flipped in the body of the fourth record (each is the same size here).
      const record = size / 10;
      bytes[3 * record + 40]! ^= 0x10;
      writeFileSync(file, bytes);
      const damaged = (e: unknown) => e instanceof EventLogError && e.code === 'FAILED_PRECONDITION' && /record 3 \(byte \d+\) is damaged/.test(e.message) && e.message.includes(`truncate -s ${3 * record}`);
      await assert.rejects(EmbeddedEventLog.open(dir), damaged);
      await assert.rejects(EmbeddedEventLog.open(dir, { readOnly: true }), damaged);
      assert.equal(statSync(file).size, size, 'the records after the damage are still there');
      // Its length damaged instead: the records after it are found all the same.
      bytes[3 * record + 40]! ^= 0x10;
      bytes.writeUInt32LE(1_000_000, 3 * record);
      writeFileSync(file, bytes);
      await assert.rejects(EmbeddedEventLog.open(dir), damaged);
      assert.equal(statSync(file).size, size);
      // Cut where the error says, the records before the damage open.
      truncateSync(file, 3 * record);
      log = await EmbeddedEventLog.open(dir);
      assert.equal((await log.stats()).events, 3);
      await log.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

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

  it('refuses to open a file where an event does not follow its stream last one, naming both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-log-'));
    const other = mkdtempSync(join(tmpdir(), 'opal-log-'));
    try {
      const p = { type: 'A', payload: new Uint8Array([1]), occurredAt: 1 };
      const log = await EmbeddedEventLog.open(dir);
      await log.append('s', [p, p], { expectedVersion: 'no_stream', producer: 't' });
      await log.close();
      // Another log's first event of the same stream, whole and with a good CRC, after them.
      const second = await EmbeddedEventLog.open(other);
      await second.append('s', [p], { expectedVersion: 'no_stream', producer: 't' });
      await second.close();
      appendFileSync(join(dir, 'events.log'), readFileSync(join(other, 'events.log')));
      await assert.rejects(EmbeddedEventLog.open(dir), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'FAILED_PRECONDITION');
        assert.match(e.message, /record 2 \(byte \d+\) is event 1 of stream s, whose last event is 2/);
        return true;
      });
      // Read-only (export, verify) still opens it: opal log verify names the event.
      const readOnly = await EmbeddedEventLog.open(dir, { readOnly: true });
      assert.equal((await readOnly.read(undefined, 10)).events.length, 3);
      await readOnly.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });
});
