import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin, ConsumerConfig, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { defaultEventId, GENESIS_HASH, sealBatch, type StoredEvent, type SubscribeOptions } from '@opal/event-log';
import { KafkaSubscription } from './kafka-subscription.js';
import { IndexReaderStopped } from './tail-reader.js';

// What kafkajs does after an eachBatch call throws: its runner fetches the partition again from the
// last resolved offset and calls eachBatch with the same records, in the same group generation (no
// rejoin). A broker cannot be made to fail a delivery at a chosen record, so the consumer here is a
// stand-in that hands over the batches a test gives it; the subscription's own code runs as it is.

const seal = (stream: string, count: number) =>
  sealBatch(stream, 'p', 1, GENESIS_HASH, Array.from({ length: count }, () => ({ type: 'E', payload: new Uint8Array([1]), occurredAt: 1 })), (_e, seq) => defaultEventId(stream, seq));

/** Events as `stream#seq`. */
const named = (events: readonly StoredEvent[]) => events.map((e) => `${e.streamId}#${e.streamSeq}`);

/** Records of topic `t`, partition 0, from `offset` on: [stream id, sealed event bytes]. */
function records(offset: number, items: readonly (readonly [string, Uint8Array])[]) {
  return items.map(([stream, bytes], i) => ({ offset: String(offset + i), key: Buffer.from(stream), value: Buffer.from(bytes), timestamp: '0', attributes: 0, headers: {} }));
}

/** A subscription on a consumer whose batches the test hands over; `counts` judges records met midway. */
async function subscription(options: Pick<SubscribeOptions, 'from' | 'handler' | 'onFailed'>, producer: Partial<Producer>, counts: () => Promise<boolean>, admin: Partial<Admin> = {}, consumerParts: { commitOffsets?: (offsets: unknown) => Promise<void> } = {}) {
  const listeners = new Map<string, (e: unknown) => void>();
  let eachBatch!: (p: EachBatchPayload) => Promise<void>;
  const consumer = {
    events: { GROUP_JOIN: 'join', CRASH: 'crash' },
    on: (event: string, listener: (e: unknown) => void) => listeners.set(event, listener),
    connect: async () => {},
    subscribe: async () => {},
    run: async (o: { eachBatch: typeof eachBatch }) => void (eachBatch = o.eachBatch),
    seek: () => {},
    commitOffsets: async () => {},
    disconnect: async () => {},
    ...consumerParts,
  };
  const admins = { fetchOffsets: async () => [], fetchTopicOffsets: async () => [], ...admin };
  const settings = { topics: ['t'], groupPrefix: 'test.', deadLetterTopic: 'dead-letter', batchSize: 100, maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1 };
  let config!: ConsumerConfig;
  const sub = new KafkaSubscription({ consumer: (c: ConsumerConfig) => ((config = c), consumer) } as unknown as Kafka, admins as unknown as Admin, producer as Producer, settings, { name: 's', ...options }, () => {}, counts);
  sub.start();
  await new Promise((r) => setTimeout(r, 10));
  listeners.get('join')!({ payload: { memberAssignment: { t: [0] } } });
  const batch = (messages: ReturnType<typeof records>, payload: Partial<EachBatchPayload> = {}) =>
    eachBatch({ batch: { topic: 't', partition: 0, messages }, isRunning: () => true, isStale: () => false, resolveOffset: () => {}, heartbeat: async () => {}, ...payload } as unknown as EachBatchPayload);
  return { sub, batch, config };
}

describe('KafkaSubscription: a batch fetched again after its delivery failed', () => {
  it('delivers its events again, though the failed try had taken them as their streams\' heads', async () => {
    const [a1, a2] = seal('a-1', 2);
    const [b1] = seal('b-1', 1);
    let failing = true;
    const seen: string[] = [];
    // The handler fails the batch and the dead-letter topic cannot be written: the failure ends the call.
    const { sub, batch } = await subscription(
      {
        from: 'beginning',
        handler: (events) => {
          if (failing) throw new Error('the store refused it');
          seen.push(...named(events));
        },
      },
      { send: async () => Promise.reject(new Error('dead-letter topic unavailable')) },
      async () => true,
    );
    const fetched = records(0, [['a-1', a1!.bytes], ['a-1', a2!.bytes], ['b-1', b1!.bytes]]);
    await assert.rejects(batch(fetched), /dead-letter topic unavailable/);
    failing = false;
    await batch(fetched);
    assert.deepEqual(seen, ['a-1#1', 'a-1#2', 'b-1#1']);
    assert.deepEqual(sub.cursor(), { 't/0': 3 });
  });

  it('delivers them again where the log index could not judge a record met midway', async () => {
    const [a1, a2] = seal('a-1', 2);
    const [c1] = seal('c-1', 1);
    let indexAway = false;
    const seen: string[] = [];
    // Resumed at offset 5: each stream's first record there is judged by the index.
    const { sub, batch } = await subscription(
      { from: { 't/0': 5 }, handler: (events) => void seen.push(...named(events)) },
      {},
      async () => {
        if (indexAway) throw new Error('the log index cannot catch up: brokers away');
        return true;
      },
    );
    await batch(records(5, [['a-1', a1!.bytes]]));
    indexAway = true;
    const next = records(6, [['a-1', a2!.bytes], ['c-1', c1!.bytes]]);
    await assert.rejects(batch(next), /brokers away/);
    indexAway = false;
    await batch(next);
    assert.deepEqual(seen, ['a-1#1', 'a-1#2', 'c-1#1']);
    assert.deepEqual(sub.cursor(), { 't/0': 8 });
  });
});

describe('KafkaSubscription: committed offsets out of reach at a join', () => {
  it('asks for them again until they answer, so caughtUp() ends on a partition that gets no new record', { timeout: 20_000 }, async () => {
    let asked = 0;
    // The group coordinator still loading after a broker restart: the first six asks fail.
    const fetchOffsets = async () => {
      if (++asked <= 6) throw new Error('The coordinator is loading and hence can not process requests');
      return [{ topic: 't', partitions: [{ partition: 0, offset: '3', metadata: null }] }];
    };
    const fetchTopicOffsets = async () => [{ partition: 0, offset: '3', high: '3', low: '0' }];
    const { sub } = await subscription({ from: 'checkpoint', handler: () => {} }, {}, async () => true, { fetchOffsets, fetchTopicOffsets } as unknown as Partial<Admin>);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'waiting'>((r) => (timer = setTimeout(r, 15_000, 'waiting')));
    assert.equal(await Promise.race([sub.caughtUp().then(() => 'caught up' as const), late]), 'caught up');
    clearTimeout(timer);
    assert.deepEqual(sub.cursor(), { 't/0': 3 });
    await sub.stop();
  });
});

describe('KafkaSubscription: a batch that takes its time', () => {
  it('heartbeats while the log index judges a record met midway, which may take longer than the session', async () => {
    const [a1] = seal('a-1', 1);
    const seen: string[] = [];
    // The index reading the partition from offset zero first: 2.5 s here, far longer on a large log.
    const { batch } = await subscription({ from: { 't/0': 5 }, handler: (events) => void seen.push(...named(events)) }, {}, () => new Promise((r) => setTimeout(r, 2500, true)));
    let beats = 0;
    await batch(records(5, [['a-1', a1!.bytes]]), { heartbeat: async () => void beats++ });
    assert.deepEqual(seen, ['a-1#1']);
    assert.ok(beats >= 3, `${beats} heartbeats in 2.5 s of judging and the one after the chunk`);
  });

  it('commits a chunk whose delivery ends after stop() began, through the batch, as kafkajs\'s runner then commits nothing', async () => {
    const [a1] = seal('a-1', 1);
    let running = true;
    const committed: unknown[] = [];
    const { batch } = await subscription(
      {
        from: 'checkpoint',
        handler: () => {
          running = false; // stop() began: kafkajs's runner waits for this batch before it leaves the group
        },
      },
      {},
      async () => true,
      {},
      // As kafkajs's consumer does: its runner's commit returns at once once it is not running.
      { commitOffsets: async (offsets) => void (running && committed.push(offsets)) },
    );
    await batch(records(0, [['a-1', a1!.bytes]]), {
      isRunning: () => running,
      commitOffsetsIfNecessary: async (offsets) => void committed.push(offsets),
    });
    assert.deepEqual(committed, [{ topics: [{ topic: 't', partitions: [{ partition: 0, offset: '1' }] }] }]);
  });
});

describe('KafkaSubscription: the log index stopped for good', () => {
  it('fails (onFailed, caughtUp) instead of having kafkajs leave and rejoin the group for ever', async () => {
    const [a1] = seal('a-1', 1);
    const failed: unknown[] = [];
    const { sub, batch, config } = await subscription(
      { from: { 't/0': 5 }, handler: () => {}, onFailed: (e) => void failed.push(e) },
      {},
      async () => Promise.reject(new IndexReaderStopped(new Error('not a broker outage'))),
    );
    const stopped = records(5, [['a-1', a1!.bytes]]);
    // kafkajs tries the batch again in place, then crashes and asks whether to start again.
    await assert.rejects(batch(stopped), IndexReaderStopped);
    await assert.rejects(batch(stopped), IndexReaderStopped);
    assert.equal(await config.retry!.restartOnFailure!(new Error('KafkaJSNumberOfRetriesExceeded')), false);
    assert.equal(failed.length, 1);
    assert.ok(failed[0] instanceof IndexReaderStopped);
    await assert.rejects(sub.caughtUp(), IndexReaderStopped);
  });

  it('is started again by kafkajs after any other failure of a batch', async () => {
    const [a1] = seal('a-1', 1);
    const failed: unknown[] = [];
    const { batch, config } = await subscription({ from: { 't/0': 5 }, handler: () => {}, onFailed: (e) => void failed.push(e) }, {}, async () => Promise.reject(new Error('brokers away')));
    await assert.rejects(batch(records(5, [['a-1', a1!.bytes]])), /brokers away/);
    assert.equal(await config.retry!.restartOnFailure!(new Error('KafkaJSNumberOfRetriesExceeded')), true);
    assert.deepEqual(failed, []);
  });
});
