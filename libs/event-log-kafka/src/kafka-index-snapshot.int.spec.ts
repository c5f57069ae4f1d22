import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics } from '@opal/test-infra';
import type { StoredEvent } from '@opal/event-log';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import type { KafkaEventLogOptions } from './kafka-event-log.options.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

if (infra.skipped) console.log(`# kafka index snapshots: ${infra.reason}`);

/** Warnings the process emits with this code while `work` runs. */
async function warningsDuring(code: string, work: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const listen = (w: Error & { code?: string }) => {
    if (w.code === code) seen.push(w.message);
  };
  process.on('warning', listen);
  try {
    await work();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', listen);
  }
  return seen;
}

const summary = (events: readonly StoredEvent[]) => events.map((e) => `${e.streamId}#${e.streamSeq}:${Buffer.from(e.hash).toString('hex').slice(0, 12)}@${e.position.partition}/${e.position.offset}`);

/** Appends `each` events to each of `streams` streams named `<name>-<i>`, from their versions now. */
async function appendTo(log: KafkaEventLog, name: string, streams: number, each: number, body = ''): Promise<void> {
  await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const id = `${name}-${i}`;
      const version = await log.streamVersion(id);
      await log.append(id, Array.from({ length: each }, (_, k) => ev('T', `${body}${i}.${version + k}`)), { expectedVersion: version, producer: 'test' });
    }),
  );
}

if (!infra.skipped) {
  describe('kafka index kept across restarts', () => {
    const dirs: string[] = [];
    // Chunks of 4 KiB and none in memory: the snapshot then spans many chunks of the records file,
    // and every read after a restart goes through it.
    const kept = (label: string, dir: string): KafkaEventLogOptions => optionsFor(label, { index: { persist: true, dir, memoryBytes: 0, chunkBytes: 4096 } });
    const folder = () => {
      const d = mkdtempSync(join(tmpdir(), 'opal-index-kept-'));
      dirs.push(d);
      return d;
    };
    const prefixes: string[] = [];
    const labelled = (label: string) => {
      prefixes.push(optionsFor(label).topics!.prefix!);
      return label;
    };
    after(async () => {
      for (const p of prefixes) await deleteTopics(brokers, p);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it('loads its snapshot at a restart and reads from Kafka only what came after it, other processes\' appends included', async () => {
      const options = kept(labelled('kept-restart'), folder());
      let log = await KafkaEventLog.connect(options);
      await appendTo(log, `s-${run}`, 30, 12);
      const atClose = log.indexFootprint().events;
      await log.close();
      // Another replica appends while this one is down.
      const other = await KafkaEventLog.connect({ ...options, index: undefined });
      await appendTo(other, `s-${run}`, 10, 3, 'other ');
      const truth = await other.read(undefined, 100_000);
      await other.close();
      log = await KafkaEventLog.connect(options);
      try {
        assert.equal(log.indexFootprint().restoredEvents, atClose, 'the snapshot the close wrote');
        assert.equal(log.indexFootprint().events, atClose, 'nothing read from Kafka before it is asked');
        assert.equal(await log.streamVersion(`s-${run}-0`), 15, "the other process's appends after the snapshot");
        // Reading one partition confirms them all, and snapshots are written again.
        const t0 = Date.now();
        while (!(await log.snapshotIndex()) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
        assert.equal(log.indexFootprint().restoredEvents, atClose);
        assert.equal(await log.streamVersion(`s-${run}-20`), 12);
        assert.deepEqual(summary((await log.read(undefined, 100_000)).events), summary(truth.events), 'the whole log, as a process reading it from offset zero has it');
        assert.deepEqual(summary(await log.readStream(`s-${run}-3`)), summary(truth.events.filter((e) => e.streamId === `s-${run}-3`)));
        await assert.rejects(log.append(`s-${run}-0`, [ev('T')], { expectedVersion: 12, producer: 'test' }), (e: { code?: string }) => e.code === 'VERSION_CONFLICT');
        await log.append(`s-${run}-0`, [ev('T')], { expectedVersion: 15, producer: 'test' });
      } finally {
        await log.close();
      }
      log = await KafkaEventLog.connect(options);
      try {
        // One event since the snapshot written once all was confirmed: the close left it to this start.
        assert.equal(log.indexFootprint().restoredEvents, truth.events.length, 'the snapshot written while it ran');
        assert.equal(await log.streamVersion(`s-${run}-0`), 16, 'the event after it, read from Kafka');
      } finally {
        await log.close();
      }
    });

    it('after a SIGKILL, loads the last snapshot and reads the rest; the records written after that snapshot are cut off the file', async () => {
      const dir = folder();
      const options = kept(labelled('kept-kill'), dir);
      const adapter = new URL('./index.js', import.meta.url).href;
      // A process that appends, snapshots, appends again and is killed before any close.
      const script = `
        const { KafkaEventLog } = await import(${JSON.stringify(adapter)});
        const options = JSON.parse(process.argv[1]);
        const log = await KafkaEventLog.connect(options);
        const body = (s) => Array.from({ length: 10 }, (_, k) => ({ type: 'T', payload: new TextEncoder().encode(s + k), occurredAt: 1 }));
        for (let i = 0; i < 20; i++) await log.append('k-${run}-' + i, body('a' + i), { expectedVersion: 0, producer: 'child' });
        if (!(await log.snapshotIndex())) throw new Error('no snapshot');
        for (let i = 0; i < 20; i++) await log.append('k-${run}-' + i, body('b' + i), { expectedVersion: 10, producer: 'child' });
        console.log('ready');
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const log = await KafkaEventLog.connect(options);
      try {
        assert.equal(log.indexFootprint().restoredEvents, 200, 'the snapshot, not what came after it');
        assert.equal(await log.streamVersion(`k-${run}-7`), 20);
        const seven = await log.readStream(`k-${run}-7`);
        assert.deepEqual(seven.map((e) => Buffer.from(e.payload).toString()), [...Array.from({ length: 10 }, (_, k) => `a7${k}`), ...Array.from({ length: 10 }, (_, k) => `b7${k}`)]);
        await log.append(`k-${run}-7`, [ev('T')], { expectedVersion: 20, producer: 'test' });
        assert.equal((await log.stats()).events, 401);
      } finally {
        await log.close();
      }
    });

    it('drops a snapshot of another log (its topics deleted and made again) once Kafka disagrees with it, and reads from offset zero', async () => {
      const label = labelled('kept-other');
      const options = kept(label, folder());
      let log = await KafkaEventLog.connect(options);
      await appendTo(log, `o-${run}`, 6, 5);
      await log.close();
      await deleteTopics(brokers, options.topics!.prefix!);
      // The same topics again, with more records than before (so no partition ends short of the
      // snapshot) and other contents at the same offsets.
      const other = await KafkaEventLog.connect({ ...options, index: undefined });
      await appendTo(other, `o-${run}`, 6, 9, 'new ');
      const truth = await other.read(undefined, 100_000);
      await other.close();
      const warned = await warningsDuring('OPAL_KAFKA_INDEX_DIVERGED', async () => {
        log = await KafkaEventLog.connect(options);
        assert.equal(log.indexFootprint().restoredEvents, 30);
        assert.equal(await log.streamVersion(`o-${run}-2`), 9);
        assert.deepEqual(summary((await log.read(undefined, 100_000)).events), summary(truth.events));
        await log.append(`o-${run}-2`, [ev('T')], { expectedVersion: 9, producer: 'test' });
      });
      assert.ok(warned.some((w) => /holds another record at offset/.test(w)), warned.join('\n'));
      await log.close();
      // Its next snapshot is of the new log.
      log = await KafkaEventLog.connect(options);
      try {
        assert.equal(log.indexFootprint().restoredEvents, truth.events.length + 1);
        assert.equal(await log.streamVersion(`o-${run}-2`), 10);
      } finally {
        await log.close();
      }
    });

    it('reads from offset zero past a damaged snapshot, saying so', async () => {
      const dir = folder();
      const options = kept(labelled('kept-torn'), dir);
      let log = await KafkaEventLog.connect(options);
      await appendTo(log, `t-${run}`, 4, 6);
      await log.close();
      const [sub] = readdirSync(dir);
      const file = join(dir, sub!, 'index');
      const bytes = readFileSync(file);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(file, bytes);
      const warned = await warningsDuring('OPAL_KAFKA_INDEX_SNAPSHOT', async () => {
        log = await KafkaEventLog.connect(options);
      });
      try {
        assert.ok(warned.some((w) => /checksum/.test(w)), warned.join('\n'));
        assert.equal(log.indexFootprint().restoredEvents, 0);
        assert.equal(await log.streamVersion(`t-${run}-1`), 6);
        assert.equal((await log.stats()).events, 24);
      } finally {
        await log.close();
      }
    });

    it('keeps no snapshot where another live process of the log holds the folder; both still work', async () => {
      const options = kept(labelled('kept-held'), folder());
      const first = await KafkaEventLog.connect(options);
      let second: KafkaEventLog | undefined;
      const warned = await warningsDuring('OPAL_KAFKA_INDEX_HELD', async () => {
        second = await KafkaEventLog.connect(options);
      });
      try {
        assert.equal(warned.length, 1);
        await first.append(`h-${run}`, [ev('A')], { expectedVersion: 0, producer: 'test' });
        await second!.append(`h-${run}`, [ev('B')], { expectedVersion: 1, producer: 'test' });
        assert.equal(await second!.snapshotIndex(), false);
        assert.equal(await first.snapshotIndex(), true);
      } finally {
        await second?.close();
        await first.close();
      }
    });
  });
}
