import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics, withKafkaAdmin } from '@opal/test-infra';
import { EventLogError, exportLog, readToEnd } from '@opal/event-log';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

describe('kafka log export while others append', { skip: infra.skipped ? infra.reason : undefined }, () => {
  const options = optionsFor('export-live');
  const dir = mkdtempSync(join(tmpdir(), 'opal-kafka-export-'));
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deleteTopics(brokers, options.topics!.prefix!);
  });

  it('refuses to connect for reading where the log\'s topics are missing (a wrong prefix), and creates none', async () => {
    const wrong = optionsFor('export-no-such-log', { createTopics: false });
    await assert.rejects(KafkaEventLog.connect(wrong), (e: unknown) => e instanceof EventLogError && e.code === 'FAILED_PRECONDITION' && /not found, so there is no log here to read/.test(e.message));
    const created = await withKafkaAdmin(brokers, async (admin) => (await admin.listTopics()).filter((t) => t.startsWith(wrong.topics!.prefix!)));
    assert.deepEqual(created, []);
  });

  it('exports the log up to its ends when the export began, and stops there while the writes go on', async () => {
    const [log, writer] = await Promise.all([KafkaEventLog.connect(options), KafkaEventLog.connect({ ...options, clientId: 'opal-test-export-writer' })]);
    let writing = true;
    let appended = 0;
    const reached = async (n: number) => {
      while (appended < n) await new Promise((r) => setTimeout(r, 10));
    };
    // Another process appending all along, to streams on every partition.
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        await writer.append(`export-${run}-${i % 12}`, [ev('Written')], { expectedVersion: 'any', producer: 'w' });
        appended++;
      }
    })();
    try {
      await reached(60);
      const summary = await exportLog(log, join(dir, 'live.jsonl'));
      const sinceExport = appended;
      await reached(sinceExport + 30);
      writing = false;
      await writes;
      assert.ok(summary.until, 'where it stopped');
      // What the log held below those ends, read by a process of its own once the writes ended.
      const reader = await KafkaEventLog.connect({ ...options, clientId: 'opal-test-export-reader' });
      let below = 0;
      let all = 0;
      for await (const batch of readToEnd(reader, 1000)) {
        all += batch.length;
        below += batch.filter((e) => e.position.offset < (summary.until![e.position.partition] ?? 0)).length;
      }
      await reader.close();
      assert.equal(summary.events, below);
      assert.ok(summary.events >= 60, `${summary.events} exported; 60 were written before it began`);
      assert.ok(all >= summary.events + 30, 'the writes went on past the export');
    } finally {
      writing = false;
      await writes;
      await Promise.all([log.close(), writer.close()]);
    }
  });
});
