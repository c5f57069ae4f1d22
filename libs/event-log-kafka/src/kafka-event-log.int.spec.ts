import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { deleteTopics, withKafkaAdmin } from '@opal/test-infra';
import { EventLogError, TransientError, type StoredEvent } from '@opal/event-log';
import { eventLogContract } from '@opal/event-log/testing';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import { DEAD_LETTER_HEADERS } from './dead-letter.js';
import { LINGER_MS } from './kafka-subscription.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

if (infra.skipped) console.log(`# kafka event log: ${infra.reason}`);

if (!infra.skipped) {
  // Once as deployed, and once with the index keeping in memory only the 4 KiB block of records it
  // is filling: nearly every stream read and chain check then goes through its file.
  // And with the index kept across restarts: each reopen loads the snapshot the close wrote.
  for (const [label, name, extra] of [
    ['kafka', 'contract', () => ({})],
    ['kafka, index records on disk', 'contract-disk', () => ({ index: { memoryBytes: 0, chunkBytes: 4096 } })],
    ['kafka, index kept across restarts', 'contract-kept', () => ({ index: { memoryBytes: 0, chunkBytes: 4096, persist: true, dir: mkdtempSync(join(tmpdir(), 'opal-kafka-index-')) } })],
  ] as const) eventLogContract(label, async () => {
    const options = optionsFor(name, extra());
    let log = await KafkaEventLog.connect(options);
    return {
      log,
      async reopen() {
        await log.close();
        log = await KafkaEventLog.connect(options);
        return log;
      },
      async cleanup() {
        await log.close();
        await deleteTopics(brokers, options.topics!.prefix!);
        if (options.index?.dir) rmSync(options.index.dir, { recursive: true, force: true });
      },
    };
  });

  describe('kafka event log specifics', () => {
    const options = optionsFor('specific', { retry: { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20 } });
    let log: KafkaEventLog;
    before(async () => {
      log = await KafkaEventLog.connect(options);
    });
    after(async () => {
      await log.close();
      await deleteTopics(brokers, options.topics!.prefix!);
    });

    it('lets the partition decide a race between two processes: the loser gets VERSION_CONFLICT', async () => {
      const other = await KafkaEventLog.connect(options);
      try {
        const s = `race2p-${run}`;
        await log.append(s, [ev('A')], { expectedVersion: 'no_stream', producer: 'p1' });
        await other.streamVersion(s); // both processes now know head 1
        const results = await Promise.allSettled([
          log.append(s, [ev('X')], { expectedVersion: 1, producer: 'p1' }),
          other.append(s, [ev('Y'), ev('Y')], { expectedVersion: 1, producer: 'p2' }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
        const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.equal(rejected.reason.code, 'VERSION_CONFLICT');
        // Both processes agree on the stream, losers excluded.
        const a = (await log.readStream(s)).map((e) => e.type);
        const b = (await other.readStream(s)).map((e) => e.type);
        assert.deepEqual(a, b);
        assert.equal(await log.streamVersion(s), a.length);
      } finally {
        await other.close();
      }
    });

    it('does not take a losing record for its stream\'s head when a subscription starts mid-partition', async () => {
      const stale = await KafkaEventLog.connect(options);
      const fresh = await KafkaEventLog.connect(options);
      try {
        const s = `midway-${run}`;
        await log.append(s, [ev('E1')], { expectedVersion: 'no_stream', producer: 'p1' });
        await stale.streamVersion(s); // knows head 1, and then nothing more of this partition
        const [e2] = await log.append(s, [ev('E2')], { expectedVersion: 1, producer: 'p1' });
        // Decided on head 1: its record lands after E2 with sequence 2, and loses.
        await assert.rejects(stale.append(s, [ev('LOSER')], { expectedVersion: 1, producer: 'p2' }), (e: { code?: string }) => e.code === 'VERSION_CONFLICT');
        const [e3] = await log.append(s, [ev('E3')], { expectedVersion: 2, producer: 'p1' });
        // A process that starts reading right after E2 meets the loser first.
        const seen: string[] = [];
        const sub = fresh.subscribe({ name: `midway-${run}`, from: { [e2!.position.partition]: e2!.position.offset + 1 }, handler: (b) => void b.filter((e) => e.streamId === s).forEach((e) => seen.push(`${e.type}#${e.streamSeq}`)) });
        try {
          await sub.caughtUp();
          assert.deepEqual(seen, [`E3#3`]);
          assert.equal(e3!.streamSeq, 3);
        } finally {
          await sub.stop();
        }
      } finally {
        await stale.close();
        await fresh.close();
      }
    });

    it('takes an event larger than the broker default of 1 MiB (a large version manifest) and delivers it', async () => {
      const s = `large-${run}`;
      const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
      await log.append(s, [{ type: 'Large', payload: big, occurredAt: 1_700_000_000_000 }, ev('After')], { expectedVersion: 'no_stream', producer: 't' });
      const seen: StoredEvent[] = [];
      const sub = log.subscribe({ name: `large-${run}`, from: 'beginning', handler: (batch: StoredEvent[]) => void seen.push(...batch.filter((e) => e.streamId === s)) });
      await sub.caughtUp();
      await sub.stop();
      assert.deepEqual(seen.map((e) => e.type), ['Large', 'After']);
      assert.ok(Buffer.from(big).equals(seen[0]!.payload), 'delivered payload');
      assert.ok(Buffer.from(big).equals((await log.readStream(s))[0]!.payload), 'read payload');
    });

    it('hands the batches of several partitions over as one, each partition in its order', async () => {
      const streams = Array.from({ length: 12 }, (_, i) => `round-${i}-${run}`);
      const partitions = new Set(streams.map((s) => `${log.locate(s).topic}/${log.locate(s).partition}`));
      assert.ok(partitions.size > 1, 'the streams span partitions');
      for (const s of streams) await log.append(s, [ev('A'), ev('B'), ev('C')], { expectedVersion: 'no_stream', producer: 't' });
      const batches: StoredEvent[][] = [];
      const sub = log.subscribe({ name: `rounds-${run}`, from: 'beginning', handler: (batch: StoredEvent[]) => void batches.push(batch.filter((e) => streams.includes(e.streamId))) });
      await sub.caughtUp();
      await sub.stop();
      const all = batches.flat();
      assert.equal(all.length, streams.length * 3);
      assert.ok(
        batches.some((b) => new Set(b.map((e) => e.position.partition)).size > 1),
        `one handler call held several partitions' events (${batches.map((b) => b.length).join(',')})`,
      );
      for (const p of partitions) {
        const offsets = all.filter((e) => e.position.partition === p).map((e) => e.position.offset);
        assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), `partition ${p} in order`);
      }
      for (const s of streams) assert.deepEqual(all.filter((e) => e.streamId === s).map((e) => e.streamSeq), [1, 2, 3]);
    });

    it('gathers events appended one at a time into fewer handler calls, each at least LINGER_MS after the one before', async () => {
      const s = `trickle-${run}`;
      const calls: number[] = [];
      let seen = 0;
      const sub = log.subscribe({
        name: `trickle-${run}`,
        from: 'beginning',
        handler: (batch: StoredEvent[]) => {
          const mine = batch.filter((e) => e.streamId === s).length;
          seen += mine;
          if (mine > 0) calls.push(performance.now());
        },
      });
      await sub.caughtUp();
      // Each append waits for the one before, as a client stream's contributions to one Datanet do.
      for (let i = 0; i < 40; i++) await log.append(s, [ev('T')], { expectedVersion: i, producer: 't' });
      await sub.caughtUp();
      await sub.stop();
      assert.equal(seen, 40);
      assert.ok(calls.length < 20, `40 appends came in ${calls.length} handler calls`);
      // A timer may fire up to a millisecond early by the clock read here.
      for (let i = 1; i < calls.length; i++) assert.ok(calls[i]! - calls[i - 1]! >= LINGER_MS - 2, `calls ${(calls[i]! - calls[i - 1]!).toFixed(1)} ms apart`);
    });

    it('sends an event its handler cannot apply to the dead-letter topic with the reason, and goes on', async () => {
      const s = `poison-${run}`;
      await log.append(s, [ev('Good', '1'), ev('Poison', '2'), ev('Good', '3')], { expectedVersion: 'no_stream', producer: 't' });
      const applied: number[] = [];
      const setAside: string[] = [];
      const sub = log.subscribe({
        name: `dlq-${run}`,
        from: 'beginning',
        handler: (batch: StoredEvent[]) => {
          const mine = batch.filter((e) => e.streamId === s);
          if (mine.some((e) => e.type === 'Poison')) throw new Error('cannot apply Poison');
          applied.push(...mine.map((e) => e.streamSeq));
        },
        onError: () => {},
        onDeadLettered: (e, reason) => setAside.push(`${e.streamId}#${e.streamSeq}: ${reason}`),
      });
      await sub.caughtUp();
      await sub.stop();
      assert.deepEqual(applied, [1, 3]);
      assert.deepEqual(setAside, [`${s}#2: cannot apply Poison`], 'the subscriber hears of what was set aside');

      const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: `dlq-reader-${run}` });
      await consumer.connect();
      await consumer.subscribe({ topic: log.topicNames().deadLetter, fromBeginning: true });
      const dead = await new Promise<{ key: string; headers: Record<string, string> }>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
            resolve({ key: String(message.key), headers });
          },
        });
      });
      await consumer.disconnect();
      assert.equal(dead.key, s);
      assert.equal(dead.headers[DEAD_LETTER_HEADERS.reason], 'cannot apply Poison');
      assert.equal(dead.headers[DEAD_LETTER_HEADERS.eventType], 'Poison');
      assert.match(dead.headers[DEAD_LETTER_HEADERS.source]!, /\/\d+@\d+$/);

      // What an operator lists (`opal log dead-letters`): the event itself, where it sits in the log, why.
      const [listed, ...more] = (await log.deadLetters()).filter((r) => r.event.streamId === s);
      assert.equal(more.length, 0);
      assert.deepEqual([listed!.event.type, listed!.event.streamSeq, listed!.reason, listed!.subscription, listed!.attempts], ['Poison', 2, 'cannot apply Poison', `dlq-${run}`, 3]);
      const [original] = await log.readStream(s, 2);
      assert.deepEqual(listed!.event.position, original!.position);
      assert.equal(listed!.event.eventId, original!.eventId);
    });

    it('waits out a handler whose store is away (transient errors), however many attempts that takes, and dead-letters nothing', async () => {
      const s = `outage-${run}`;
      await log.append(s, [ev('A', '1'), ev('B', '2')], { expectedVersion: 'no_stream', producer: 't' });
      const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const deadLetters = async () => (await admin.fetchTopicOffsets(log.topicNames().deadLetter)).reduce((n, p) => n + Number(p.high), 0);
      const before = await deadLetters();
      let failures = 0;
      const applied: number[] = [];
      const sub = log.subscribe({
        name: `outage-${run}`,
        from: 'beginning',
        handler: (batch: StoredEvent[]) => {
          const mine = batch.filter((e) => e.streamId === s);
          // Twice as many failures as the subscription's maxAttempts (3): the database is down, then back.
          if (mine.length > 0 && failures < 6) {
            failures++;
            throw failures % 2 ? new TransientError('mongodb unavailable: connection refused') : new EventLogError('UNAVAILABLE', 'kafka: broker away');
          }
          applied.push(...mine.map((e) => e.streamSeq));
        },
        onError: () => {},
      });
      await sub.caughtUp();
      await sub.stop();
      assert.equal(failures, 6);
      assert.deepEqual(applied, [1, 2]);
      assert.equal(await deadLetters(), before, 'nothing went to the dead-letter topic');
      await admin.disconnect();
    });

    it('resumes a subscription from a cursor and routes streams to their domain topic', async () => {
      const a = `ia-${run}`;
      const b = `other-${run}`;
      await log.append(a, [ev('A', '1')], { expectedVersion: 'no_stream', producer: 't' });
      await log.append(b, [ev('B', '1')], { expectedVersion: 'no_stream', producer: 't' });
      assert.ok((await log.readStream(a))[0]!.position.partition.startsWith(`${options.topics!.prefix}alpha/`));
      assert.ok((await log.readStream(b))[0]!.position.partition.startsWith(`${options.topics!.prefix}events/`));
      const { next } = await log.read(undefined, 10_000);
      await log.append(a, [ev('A', '2')], { expectedVersion: 1, producer: 't' });
      const seen: StoredEvent[] = [];
      const sub = log.subscribe({ name: `cursor-${run}`, from: next, handler: (batch) => void seen.push(...batch) });
      await sub.caughtUp();
      await sub.stop();
      assert.deepEqual(seen.map((e) => `${e.streamId}#${e.streamSeq}`), [`${a}#2`]);
    });

    it('follows only the topics that hold the streams a subscription asks for, and commits only there', async () => {
      await log.append(`ia-only-${run}`, [ev('A', '1')], { expectedVersion: 'no_stream', producer: 't' });
      await log.append(`other-only-${run}`, [ev('B', '1')], { expectedVersion: 'no_stream', producer: 't' });
      const alpha = `${options.topics!.prefix}alpha`;
      const name = `only-${run}`;
      const seen: string[] = [];
      const sub = log.subscribe({ name, from: 'checkpoint', streams: ['ia'], handler: (batch) => void seen.push(...batch.map((e) => e.streamId)) });
      await sub.caughtUp();
      const followed = Object.keys(await sub.sharedCursor());
      await sub.stop();
      assert.ok(seen.includes(`ia-only-${run}`));
      assert.ok(followed.length > 0 && followed.every((k) => k.startsWith(`${alpha}/`)), `follows ${followed.join(', ')}`);
      const committed = await withKafkaAdmin(brokers, (admin) => admin.fetchOffsets({ groupId: `${options.groupPrefix}${name}`, topics: [`${options.topics!.prefix}events`] }));
      assert.ok(committed[0]!.partitions.every((p) => p.offset === '-1'), 'nothing committed in the topic it does not follow');
    });

    it('warms the index with the topics of the domains it is given and the default topic, no other; an unknown domain is refused by name', async () => {
      const a = `ia-warm-${run}`;
      await log.append(a, [ev('A', '1'), ev('A', '2')], { expectedVersion: 'no_stream', producer: 't' });
      await log.append(`other-warm-${run}`, [ev('B', '1')], { expectedVersion: 'no_stream', producer: 't' });
      const all = (await log.read(undefined, 100_000)).events;
      const inTopic = (domain: string) => all.filter((e) => e.position.partition.startsWith(`${options.topics!.prefix}${domain}/`)).length;
      // A process that also places 'wb' streams in a topic of their own (there are none yet).
      const fresh = await KafkaEventLog.connect({ ...options, topics: { ...options.topics, streamDomains: { ia: 'alpha', wb: 'beta' } } });
      try {
        assert.equal(fresh.indexFootprint().events, 0, 'a fresh process holds nothing before it is asked');
        assert.equal(await fresh.warm(['beta']), inTopic('events'), 'beta (empty) and the default topic; alpha not read');
        assert.equal(await fresh.warm(['alpha']), inTopic('events') + inTopic('alpha'));
        assert.equal(await fresh.streamVersion(a), 2);
        await assert.rejects(fresh.warm(['gamma']), (e: { code?: string; message: string }) => e.code === 'INVALID_ARGUMENT' && /domain 'gamma'/.test(e.message));
      } finally {
        await fresh.close();
      }
    });

    it('refuses appends and stream reads once it has found a stream in a topic it places elsewhere (a release that moved its kind); the whole log still reads, for an export', async () => {
      const moved = `im-moved-${run}`;
      await log.append(moved, [ev('A')], { expectedVersion: 'no_stream', producer: 't' }); // in the default topic here
      const later = await KafkaEventLog.connect({ ...options, topics: { ...options.topics, streamDomains: { ia: 'alpha', im: 'mu' } } });
      const refused = (e: { code?: string; message: string }) =>
        e.code === 'FAILED_PRECONDITION' && e.message.includes(`${moved} lies in topic ${options.topics!.prefix}events`) && e.message.includes(`im streams in ${options.topics!.prefix}mu`);
      try {
        await assert.rejects(later.warm(['mu']), refused);
        await assert.rejects(later.append(`im-new-${run}`, [ev('A')], { expectedVersion: 'no_stream', producer: 't' }), refused);
        await assert.rejects(later.streamVersion(moved), refused);
        const whole = await later.read(undefined, 100_000);
        assert.ok(whole.events.some((e) => e.streamId === moved), 'an export reads it');
      } finally {
        await later.close();
      }
      const mu = await withKafkaAdmin(brokers, (admin) => admin.fetchTopicOffsets(`${options.topics!.prefix}mu`));
      assert.ok(mu.every((p) => p.high === '0'), 'nothing was written to the new topic');
    });

    it('leaves no connection behind when closed right after an append started its index reader', async () => {
      const brokerPort = Number(brokers[0]!.split(':').at(-1));
      const sockets = () =>
        (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => (h as { remotePort?: number }).remotePort === brokerPort).length;
      const before = sockets();
      for (let i = 0; i < 5; i++) {
        const fresh = optionsFor(`close-${i}`);
        const other = await KafkaEventLog.connect(fresh);
        await other.append(`close-${run}-${i}`, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
        await other.close();
        await deleteTopics(brokers, fresh.topics!.prefix!);
      }
      // A start that went on after the disconnect reconnected within a second or so.
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(sockets(), before, 'connections to the broker left open');
    });

    it('creates its topics with the configured copies, and refuses more copies than there are brokers, naming the setting', async () => {
      const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const topic = `${options.topics!.prefix}events`;
        const [described] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
        assert.ok(described!.partitions.every((p) => p.replicas.length === 1));
        const more = optionsFor('copies', { topics: { prefix: `opal-test-copies-${run}.`, replicationFactor: 2 } });
        await assert.rejects(KafkaEventLog.connect(more), (e: { code?: string; message: string }) => e.code === 'INVALID_ARGUMENT' && /replication factor 2/.test(e.message));
        assert.deepEqual((await admin.listTopics()).filter((t) => t.startsWith(more.topics!.prefix!)), [], 'no topic half created');
      } finally {
        await admin.disconnect();
      }
    });

    /** An INVALID_ARGUMENT whose message holds every one of `parts`. */
    const refused = (...parts: string[]) => (e: { code?: string; message: string }) => e.code === 'INVALID_ARGUMENT' && parts.every((p) => e.message.includes(p));

    it('refuses topics in use with another partition count than configured, naming the topic and both counts', async () => {
      // With 6 partitions counted, this stream would hash to another partition than the one that holds it.
      const id = `moved-${run}`;
      await log.append(id, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
      const says = (topic: string, configured: number) => `${options.topics!.prefix}${topic} has 3 partitions but ${configured} are configured`;
      await assert.rejects(KafkaEventLog.connect({ ...options, topics: { ...options.topics, defaultPartitions: 6 } }), refused(says('alpha', 6), says('events', 6)));
      await assert.rejects(KafkaEventLog.connect({ ...options, topics: { ...options.topics, partitions: { alpha: 2 } } }), (e: Error) => refused(says('alpha', 2))(e) && !e.message.includes('events has'));
      const same = await KafkaEventLog.connect(options);
      try {
        assert.equal(await same.streamVersion(id), 1);
      } finally {
        await same.close();
      }
    });

    it('refuses a log written with another topic layout: every stream in one topic, or topics per domain', async () => {
      // optionsFor maps 'ia-' streams to their own topic (alpha); without streamDomains every stream is in 'events'.
      const single = (label: string) => {
        const o = optionsFor(label);
        return { ...o, topics: { ...o.topics, streamDomains: {} } };
      };
      const oneTopic = single('layout-single');
      const byDomain = optionsFor('layout-domains');
      const fresh = optionsFor('layout-fresh');
      try {
        // Written with every stream in one topic, then opened with topics per domain.
        const written = await KafkaEventLog.connect(oneTopic);
        await written.append(`ia-${run}`, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
        await written.close();
        const prefix = oneTopic.topics.prefix!;
        await assert.rejects(KafkaEventLog.connect({ ...byDomain, topics: { ...byDomain.topics, prefix } }), refused(`${prefix}events holds events and ${prefix}alpha do not exist`));
        // Written with topics per domain, then opened with every stream in one topic.
        await (await KafkaEventLog.connect(byDomain)).close();
        const domains = byDomain.topics!.prefix!;
        await assert.rejects(KafkaEventLog.connect({ ...oneTopic, topics: { ...oneTopic.topics, prefix: domains } }), refused(`topics: ${domains}alpha lie beside ${domains}events`));
        // A one-topic log never written to takes topics per domain.
        await (await KafkaEventLog.connect(single('layout-fresh'))).close();
        await (await KafkaEventLog.connect(fresh)).close();
      } finally {
        for (const o of [oneTopic, byDomain, fresh]) await deleteTopics(brokers, o.topics!.prefix!);
      }
    });
  });
} else {
  describe('kafka event log', () => {
    it('is skipped: OPAL_SKIP_INFRA=1', { skip: infra.skipped ? infra.reason : true }, () => {});
  });
}
