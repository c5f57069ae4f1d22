import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, EachBatchPayload, Kafka } from 'kafkajs';
import { IndexReaderStopped, TailReader } from './tail-reader.js';
import { REJOIN_FOR_MS } from './rejoin.js';
import { LogIndex } from './log-index.js';
import { RecordArena } from './record-arena.js';

/**
 * A stand-in for kafkajs's consumer as the index's reader sees it: between a crash (its disconnect)
 * and the join that starts it again, kafkajs refuses seek, pause and resume.
 */
function standInConsumer() {
  const handlers: Record<string, (e: unknown) => void> = {};
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  let group = false;
  const refuse = () => {
    if (!group) throw Object.assign(new Error('Consumer group was not initialized, consumer#run must be called first'), { name: 'KafkaJSNonRetriableError' });
  };
  const consumer = {
    events: { GROUP_JOIN: 'join', CRASH: 'crash' },
    on: (event: string, handler: (e: unknown) => void) => void (handlers[event] = handler),
    connect: async () => {},
    subscribe: async () => {},
    run: async (o: { eachBatch: typeof eachBatch }) => {
      eachBatch = o.eachBatch;
      group = true;
      handlers['join']!({ payload: { memberAssignment: { t: [0] } } });
    },
    disconnect: async () => void (group = false),
    seek: refuse,
    pause: refuse,
    resume: refuse,
  };
  /** Records of partition t/0 with no value (the index only moves past them). */
  const deliver = (from: number, count: number) =>
    eachBatch!({
      batch: { topic: 't', partition: 0, messages: Array.from({ length: count }, (_, i) => ({ offset: String(from + i), value: null })) },
      heartbeat: async () => {},
      isStale: () => false,
    } as unknown as EachBatchPayload);
  return { consumer, handlers, deliver, crash: () => consumer.disconnect(), savedBatch: () => eachBatch };
}

describe('TailReader while kafkajs starts its consumer again', () => {
  it('keeps a waiter waiting, and releases it once the consumer has joined again and read on', async () => {
    const { consumer, handlers, deliver, crash, savedBatch } = standInConsumer();
    const admin = { fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '0' }] } as unknown as Admin;
    const reader = new TailReader({ consumer: () => consumer } as unknown as Kafka, admin, ['t'], new LogIndex(new RecordArena()), 'test.', () => 't');
    await reader.catchUp(); // joined; nothing awaited, so t/0 is paused
    // kafkajs crashes on a retriable error: it disconnects, says it restarts, and does so later.
    await crash();
    handlers['crash']!({ payload: { restart: true, error: new Error('request timed out') } });
    // An append's records lie at 0..4 behind another writer's: it waits for the reader to read them.
    let outcome = 'waiting';
    const waited = reader.waitFor('t/0', 5).then(
      () => void (outcome = 'read'),
      (e: unknown) => void (outcome = `failed: ${String(e)}`),
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(outcome, 'waiting', 'refused at once while the consumer is down');
    await consumer.run({ eachBatch: savedBatch() }); // kafkajs starts it again: a join
    await deliver(0, 5);
    await waited;
    assert.equal(outcome, 'read');
    await reader.stop();
  });
});

describe('TailReader whose restarts cannot reach the brokers', () => {
  it('fails for good once the outage outlasts its rejoin window, and every later read says so (IndexReaderStopped)', async () => {
    const away = () => Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError' });
    const consumer = { ...standInConsumer().consumer, connect: async () => Promise.reject(away()) };
    const admin = { fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '0' }] } as unknown as Admin;
    const reader = new TailReader({ consumer: () => consumer } as unknown as Kafka, admin, ['t'], new LogIndex(new RecordArena()), 'test.', () => 't');
    const realNow = Date.now;
    try {
      // The brokers away: the first read fails, and a restart is on its way.
      await assert.rejects(reader.catchUp(), /ECONNREFUSED/);
      // Past the window: the reader fails for good (appends are refused with IndexReaderStopped).
      const later = realNow() + REJOIN_FOR_MS + 1000;
      Date.now = () => later;
      await assert.rejects(reader.catchUp(), (e: unknown) => e instanceof IndexReaderStopped);
      assert.throws(() => reader.assertReading(), (e: unknown) => e instanceof IndexReaderStopped);
      // A subscription tells a stopped reader by its class; the raw connection error made it leave
      // and join its group again and again, never failing.
      await assert.rejects(reader.catchUp(), (e: unknown) => e instanceof IndexReaderStopped);
      await assert.rejects(reader.waitFor('t/0', 1), (e: unknown) => e instanceof IndexReaderStopped);
    } finally {
      Date.now = realNow;
      await reader.stop();
    }
  });
});
