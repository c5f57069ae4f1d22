import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Cursor, EventLog } from '../event-log.port.js';
import type { NewEvent, StoredEvent } from '../envelope.js';
import { computeEventHash, equalBytes, GENESIS_HASH, MAX_PAYLOAD_BYTES } from '../envelope.js';
import { EventLogError } from '../errors.js';

export type ContractSubject = {
  readonly log: EventLog;
  /** Closes the log and opens it again on the same storage. */
  reopen(): Promise<EventLog>;
  cleanup(): Promise<void>;
};

const enc = new TextEncoder();
const ev = (type: string, body: string, at = 1_700_000_000_000): NewEvent => ({
  type,
  payload: enc.encode(body),
  occurredAt: at,
});
let unique = 0;
const streamName = (label: string) => `${label}-${process.pid}-${Date.now()}-${unique++}`;

async function readAllOf(log: EventLog, streams: Set<string>): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let cursor = undefined;
  for (;;) {
    const r = await log.read(cursor, 500);
    out.push(...r.events.filter((e) => streams.has(e.streamId)));
    if (r.events.length === 0) return out;
    cursor = r.next;
  }
}

function assertChain(events: StoredEvent[]): void {
  let prev = GENESIS_HASH;
  events.forEach((e, i) => {
    assert.equal(e.streamSeq, i + 1, 'stream sequence is 1-based and gapless');
    assert.ok(equalBytes(e.prevHash, prev), `prev_hash of seq ${e.streamSeq} links to the previous event`);
    assert.ok(equalBytes(e.hash, computeEventHash(e)), `hash of seq ${e.streamSeq} matches its content`);
    prev = e.hash;
  });
}

/**
 * The behaviour every EventLog adapter must show. The embedded and the Kafka adapters run this very
 * suite; `factory` gives a fresh, empty subject for the adapter under test.
 */
export function eventLogContract(adapter: string, factory: () => Promise<ContractSubject>): void {
  describe(`EventLog contract: ${adapter}`, () => {
    let subject: ContractSubject;
    let log: EventLog;
    before(async () => {
      subject = await factory();
      log = subject.log;
    });
    after(async () => subject.cleanup());

    it('appends to a new stream and reads it back in order with a valid hash chain', async () => {
      const s = streamName('order');
      const stored = await log.append(s, [ev('A', '1'), ev('B', '2'), ev('C', '3')], { expectedVersion: 'no_stream', producer: 'test' });
      assert.deepEqual(stored.map((e) => e.streamSeq), [1, 2, 3]);
      const read = await log.readStream(s);
      assert.deepEqual(read.map((e) => e.type), ['A', 'B', 'C']);
      assert.deepEqual(read.map((e) => new TextDecoder().decode(e.payload)), ['1', '2', '3']);
      assert.equal(read[0]!.producer, 'test');
      assertChain(read);
      assert.equal(await log.streamVersion(s), 3);
    });

    it('refuses an append with a stale expected version and changes nothing', async () => {
      const s = streamName('conflict');
      await log.append(s, [ev('A', '1')], { expectedVersion: 'no_stream', producer: 'test' });
      await assert.rejects(
        log.append(s, [ev('B', '2')], { expectedVersion: 0, producer: 'test' }),
        (e: unknown) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT' && e.message.includes(s),
      );
      await assert.rejects(log.append(s, [ev('B', '2')], { expectedVersion: 'no_stream', producer: 'test' }), EventLogError);
      assert.equal(await log.streamVersion(s), 1);
      assert.equal((await log.readStream(s)).length, 1);
    });

    it('lets exactly one of two racing appends with the same expected version win', async () => {
      const s = streamName('race');
      await log.append(s, [ev('A', '0')], { expectedVersion: 'no_stream', producer: 'test' });
      const results = await Promise.allSettled([
        log.append(s, [ev('X', 'x')], { expectedVersion: 1, producer: 'test' }),
        log.append(s, [ev('Y', 'y')], { expectedVersion: 1, producer: 'test' }),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal(await log.streamVersion(s), 2);
      assertChain(await log.readStream(s));
    });

    it("accepts 'any' and reads a stream from a given sequence, a page at a time", async () => {
      const s = streamName('any');
      await log.append(s, [ev('A', '1')], { expectedVersion: 'any', producer: 'test' });
      await log.append(s, [ev('B', '2'), ev('C', '3')], { expectedVersion: 'any', producer: 'test' });
      const tail = await log.readStream(s, 2);
      assert.deepEqual(tail.map((e) => e.streamSeq), [2, 3]);
      assert.deepEqual((await log.readStream(s, 1, 2)).map((e) => e.streamSeq), [1, 2]);
      assert.deepEqual((await log.readStream(s, 2, 1)).map((e) => e.streamSeq), [2]);
      assert.deepEqual(await log.readStream(s, 4, 10), []);
    });

    it("reads a stream whose batches lie between other streams' events, whole or from any sequence with any limit", async () => {
      const a = streamName('runs-a');
      const b = streamName('runs-b');
      const body = (seq: number) => `${seq}:`.padEnd(1024, 'x');
      let seqA = 0;
      const appendA = async (n: number) => {
        const events = Array.from({ length: n }, (_, k) => ev('A', body(seqA + k + 1)));
        await log.append(a, events, { expectedVersion: seqA === 0 ? 'no_stream' : seqA, producer: 'test' });
        seqA += n;
      };
      await appendA(5);
      await log.append(b, [ev('B', '1'), ev('B', '2'), ev('B', '3')], { expectedVersion: 'no_stream', producer: 'test' });
      await appendA(150); // about 150 KiB in one batch
      await log.append(b, [ev('B', '4')], { expectedVersion: 3, producer: 'test' });
      await appendA(2);
      const bodies = (events: StoredEvent[]) => events.map((e) => new TextDecoder().decode(e.payload));
      const whole = await log.readStream(a);
      assert.deepEqual(whole.map((e) => e.streamSeq), Array.from({ length: seqA }, (_, i) => i + 1));
      assert.deepEqual(bodies(whole), Array.from({ length: seqA }, (_, i) => body(i + 1)));
      assertChain(whole);
      for (const [from, limit] of [[3, 100], [5, 2], [6, 150], [100, 1000], [154, 3], [157, 1], [158, 5]] as const) {
        const part = await log.readStream(a, from, limit);
        const expected = whole.filter((e) => e.streamSeq >= from).slice(0, limit);
        assert.deepEqual(part.map((e) => e.streamSeq), expected.map((e) => e.streamSeq), `from ${from}, limit ${limit}`);
        assert.deepEqual(bodies(part), bodies(expected));
      }
      assert.deepEqual(bodies(await log.readStream(b)), ['1', '2', '3', '4']);
    });

    it('rejects an empty stream id', async () => {
      await assert.rejects(
        log.append('', [ev('A', '1')], { expectedVersion: 'any', producer: 'test' }),
        (e: unknown) => e instanceof EventLogError && e.code === 'INVALID_ARGUMENT',
      );
    });

    it('keeps each stream in order when streams interleave, in read and in subscriptions', async () => {
      const a = streamName('ia');
      const b = streamName('ib');
      for (let i = 0; i < 20; i++) {
        await log.append(a, [ev('A', String(i))], { expectedVersion: i, producer: 'test' });
        await log.append(b, [ev('B', String(i)), ev('B', String(i))], { expectedVersion: 2 * i, producer: 'test' });
      }
      const all = await readAllOf(log, new Set([a, b]));
      assert.deepEqual(all.filter((e) => e.streamId === a).map((e) => e.streamSeq), [...Array(20).keys()].map((i) => i + 1));
      assert.deepEqual(all.filter((e) => e.streamId === b).map((e) => e.streamSeq), [...Array(40).keys()].map((i) => i + 1));

      const seen: StoredEvent[] = [];
      const sub = log.subscribe({ name: streamName('sub'), from: 'beginning', handler: (batch) => void seen.push(...batch) });
      await log.append(a, [ev('A', 'late')], { expectedVersion: 20, producer: 'test' });
      await sub.caughtUp();
      await sub.stop();
      const mineA = seen.filter((e) => e.streamId === a).map((e) => e.streamSeq);
      assert.deepEqual([...new Set(mineA)], [...Array(21).keys()].map((i) => i + 1));
    });

    it('delivers to a subscription only the streams it asks for, each whole and in order', async () => {
      // 'ia-…' streams have a topic of their own on the Kafka subject; 'pick-…' and 'skip-…' share one.
      const ia = streamName('ia');
      const pick = streamName('pick');
      const skip = streamName('skip');
      for (let i = 0; i < 10; i++) {
        await log.append(ia, [ev('A', String(i))], { expectedVersion: i, producer: 'test' });
        await log.append(skip, [ev('S', String(i))], { expectedVersion: i, producer: 'test' });
        await log.append(pick, [ev('P', String(i)), ev('P', String(i))], { expectedVersion: 2 * i, producer: 'test' });
      }
      const seen: StoredEvent[] = [];
      const sub = log.subscribe({ name: streamName('some'), from: 'beginning', streams: ['pick', 'ia'], handler: (batch) => void seen.push(...batch) });
      await log.append(skip, [ev('S', 'late')], { expectedVersion: 10, producer: 'test' });
      await log.append(pick, [ev('P', 'late')], { expectedVersion: 20, producer: 'test' });
      await sub.caughtUp();
      await sub.stop();
      const others = seen.filter((e) => !e.streamId.startsWith('pick-') && !e.streamId.startsWith('ia-'));
      assert.deepEqual(others.map((e) => e.streamId), [], 'no event of another kind of stream');
      assert.deepEqual([...new Set(seen.filter((e) => e.streamId === pick).map((e) => e.streamSeq))], [...Array(21).keys()].map((i) => i + 1));
      assert.deepEqual([...new Set(seen.filter((e) => e.streamId === ia).map((e) => e.streamSeq))], [...Array(10).keys()].map((i) => i + 1));
    });

    it('refuses a subscription to no streams, or to something that is not a stream prefix, naming the field', () => {
      for (const streams of [[], ['pick-1'], ['a:b'], ['']]) {
        assert.throws(
          () => log.subscribe({ name: streamName('bad'), from: 'beginning', streams, handler: () => {} }),
          (e: unknown) => e instanceof EventLogError && e.code === 'INVALID_ARGUMENT' && e.message.startsWith('streams: '),
          JSON.stringify(streams),
        );
      }
    });

    it('resumes a named subscription from its checkpoint without losing events', async () => {
      const s = streamName('ckpt');
      const name = streamName('consumer');
      await log.append(s, [ev('A', '1'), ev('A', '2')], { expectedVersion: 'no_stream', producer: 'test' });
      const first: StoredEvent[] = [];
      const sub1 = log.subscribe({ name, from: 'checkpoint', handler: (b) => void first.push(...b.filter((e) => e.streamId === s)) });
      await sub1.caughtUp();
      await sub1.stop();
      assert.deepEqual(first.map((e) => e.streamSeq), [1, 2]);
      await log.append(s, [ev('A', '3')], { expectedVersion: 2, producer: 'test' });
      const second: StoredEvent[] = [];
      const sub2 = log.subscribe({ name, from: 'checkpoint', handler: (b) => void second.push(...b.filter((e) => e.streamId === s)) });
      await sub2.caughtUp();
      await sub2.stop();
      assert.ok(second.some((e) => e.streamSeq === 3), 'the new event is delivered');
      assert.ok(!second.some((e) => e.streamSeq === 1), 'a committed event is not delivered again');
    });

    it("resumes a named subscription where its own stored cursor says (resume), not where the log stored its progress", async () => {
      const s = streamName('resume');
      const name = streamName('consumer');
      const written = await log.append(s, [ev('A', '1'), ev('A', '2'), ev('A', '3')], { expectedVersion: 'no_stream', producer: 'test' });
      const seqsOf = (batch: StoredEvent[]) => batch.filter((e) => e.streamId === s).map((e) => e.streamSeq);
      const run = async (resume: () => Promise<Cursor>) => {
        const seen: number[] = [];
        const sub = log.subscribe({ name, from: 'checkpoint', resume, handler: (b) => void seen.push(...seqsOf(b)) });
        await sub.caughtUp();
        await sub.stop();
        return [...new Set(seen)]; // at-least-once: a redelivery is no fault here
      };
      // The log's stored progress is past all three events now.
      assert.deepEqual(await run(async () => ({})), [1, 2, 3]);
      // A state that holds event 1 only (restored from a backup): events 2 and 3 come again.
      const second = written[1]!.position;
      let calls = 0;
      const fromSecond = async () => {
        if (++calls === 1) throw new Error('the store is away for a moment');
        return { [second.partition]: second.offset };
      };
      assert.deepEqual(await run(fromSecond), [2, 3]);
      assert.equal(calls, 2, 'a failed resume is asked again');
      // A state with nothing in it: everything, from offset zero.
      assert.deepEqual(await run(async () => ({})), [1, 2, 3]);
    });

    it('reports how many records a subscription has yet to deliver, and 0 once it has caught up', async () => {
      const s = streamName('lag');
      await log.append(s, [ev('A', '1'), ev('A', '2'), ev('A', '3')], { expectedVersion: 'no_stream', producer: 'test' });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const holding = new Promise<void>((r) => (entered = r));
      const mine: number[] = [];
      const sub = log.subscribe({
        name: streamName('lagging'),
        from: 'checkpoint',
        handler: async (batch) => {
          entered();
          await gate; // every batch waits: nothing is delivered until the gate opens
          mine.push(...batch.filter((e) => e.streamId === s).map((e) => e.streamSeq));
        },
      });
      await holding;
      await log.append(s, [ev('A', '4')], { expectedVersion: 3, producer: 'test' });
      const behind = await sub.lag();
      assert.ok(behind >= 4, `the stream's 4 events are not delivered yet, so the lag (${behind}) counts them`);
      release();
      await sub.caughtUp();
      assert.equal(await sub.lag(), 0);
      await sub.stop();
      assert.deepEqual([...new Set(mine)], [1, 2, 3, 4]);
    });

    it('retries a batch whose handler failed (at-least-once)', async () => {
      const s = streamName('retry');
      await log.append(s, [ev('A', '1')], { expectedVersion: 'no_stream', producer: 'test' });
      let failures = 0;
      const delivered: number[] = [];
      const sub = log.subscribe({
        name: streamName('flaky'),
        from: 'beginning',
        handler: (batch) => {
          const mine = batch.filter((e) => e.streamId === s);
          if (mine.length > 0 && failures < 2) {
            failures++;
            throw new Error('transient');
          }
          delivered.push(...mine.map((e) => e.streamSeq));
        },
        onError: () => {},
      });
      await sub.caughtUp();
      await sub.stop();
      assert.equal(failures, 2);
      assert.deepEqual(delivered, [1]);
    });

    it('keeps every acknowledged event, version and chain across a reopen', async () => {
      const s = streamName('durable');
      await log.append(s, [ev('A', '1'), ev('B', '2')], { expectedVersion: 'no_stream', producer: 'test' });
      log = await subject.reopen();
      assert.equal(await log.streamVersion(s), 2);
      await log.append(s, [ev('C', '3')], { expectedVersion: 2, producer: 'test' });
      const read = await log.readStream(s);
      assert.deepEqual(read.map((e) => e.type), ['A', 'B', 'C']);
      assertChain(read);
    });

    // Last: the event at the limit stays in the log, and later tests would read it back.
    it('refuses a batch holding an event over the payload limit, naming the field, and writes none of it', async () => {
      const stream = streamName('oversize');
      const big: NewEvent = { type: 'Big', payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1), occurredAt: 1_700_000_000_000 };
      await assert.rejects(
        log.append(stream, [ev('A', '1'), big], { expectedVersion: 'no_stream', producer: 'test' }),
        (e: unknown) => e instanceof EventLogError && e.code === 'INVALID_ARGUMENT' && /^payload: event 1 \(Big\)/.test(e.message),
      );
      assert.equal(await log.streamVersion(stream), 0);
      const at = { type: 'AtLimit', payload: new Uint8Array(MAX_PAYLOAD_BYTES), occurredAt: 1_700_000_000_000 };
      const [stored] = await log.append(stream, [at], { expectedVersion: 'no_stream', producer: 'test' });
      assert.equal(stored!.payload.length, MAX_PAYLOAD_BYTES, 'an event at the limit goes in');
    });
  });
}
