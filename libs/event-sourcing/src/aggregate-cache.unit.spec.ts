import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddedEventLog, EventLogError, type EventLog } from '@opal/event-log';
import { AggregateCache, type AggregateDefinition } from './aggregate-cache.js';
import { CONFLICT_ATTEMPTS, CONFLICT_RETRY_MS } from './retry-on-conflict.js';
import { contentionAfterRace } from './shared-decisions.js';
import { add, assertEachDecidedOnTheOneBefore, codec, counter, embeddedLog, interfere, seeing, type Counted } from './testing/counter-aggregate.js';

// Two caches over one log stand in for two processes (replicas) running commands on one stream.
describe('AggregateCache shared by two processes', () => {
  const log = embeddedLog('opal-aggregates-');

  it('decides again on the stream as the log has it when the other process appended since', async () => {
    const a = new AggregateCache(log, counter, 'a');
    const b = new AggregateCache(log, counter, 'b');
    assert.equal((await b.peek('s1')).version, 0, 'b has seen the stream empty');
    await a.execute('s1', { now: 1 }, add('from a'));
    assert.equal((await b.peek('s1')).version, 1, 'an empty stream is read again, not served from the cache');
    await a.execute('s1', { now: 2 }, add('from a again'));
    // b still holds version 1: its first decision loses, the second is taken on version 2.
    const { result } = await b.execute('s1', { now: 3 }, add('from b'));
    assert.equal(result, 3);
    assert.deepEqual((await a.peek('s1')).state.names.length, 2, "a's cache is behind until its next conflict");
    const { result: next } = await a.execute('s1', { now: 4 }, add('from a, third'));
    assert.equal(next, 4);
    assert.deepEqual((await log.readStream('s1')).map((e) => codec.decode(e)!.data.name), ['from a', 'from a again', 'from b', 'from a, third']);
  });

  it('runs concurrent commands of one process on a new stream in order, on one state', async () => {
    // fsync on: each append stays invisible to readStream until its group is on disk.
    const durableDir = mkdtempSync(join(tmpdir(), 'opal-aggregates-fsync-'));
    const synced = await EmbeddedEventLog.open(durableDir, { fsync: true });
    try {
      const cache = new AggregateCache(synced, counter, 'p');
      for (let round = 0; round < 20; round++) {
        const stream = `new-${round}`;
        await cache.peek(stream); // seen empty first: the commands below read it again
        const results = await Promise.all([0, 1, 2, 3].map((k) => cache.execute(stream, { now: k }, add(`c${k}`))));
        assert.deepEqual(results.map((r) => r.result).sort(), [1, 2, 3, 4], `round ${round}`);
        assert.equal(await synced.streamVersion(stream), 4);
      }
    } finally {
      await synced.close();
      rmSync(durableDir, { recursive: true, force: true });
    }
  });

  it(`gives up after ${CONFLICT_ATTEMPTS} lost races and ${CONFLICT_RETRY_MS} ms, and reports the conflict`, async () => {
    const b = new AggregateCache(log, counter, 'b');
    const a = new AggregateCache(log, counter, 'a');
    await a.execute('s2', { now: 1 }, add('first'));
    let decisions = 0;
    // Each time b decides, another writer appends first (the embedded log takes the sequence at
    // the call): b never wins.
    const racing = (s: { count: number }) => {
      decisions++;
      void log.append('s2', [codec.encode({ type: 'DatanetCreated', data: { datanetId: 'd', name: `other ${decisions}`, tags: [] } }, 2)], { expectedVersion: 'any', producer: 'other' });
      return add(`b ${decisions}`)(s);
    };
    await b.peek('s2');
    const started = Date.now();
    await assert.rejects(b.execute('s2', { now: 3 }, racing), (e: unknown) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT');
    // Lost races in a row on a loaded machine can come fast: the bound is in time as well as in count.
    assert.ok(decisions > CONFLICT_ATTEMPTS, `${decisions} decisions`);
    assert.ok(Date.now() - started >= CONFLICT_RETRY_MS);
  });
});

// The same log marked as one that other processes append to (as Kafka is): each cache then runs a
// stream's commands one at a time and folds in only what the log took.
describe('AggregateCache on a log with concurrent writers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-aggregates-shared-'));
  let log: EmbeddedEventLog;
  let shared: EmbeddedEventLog;
  let slow: EventLog;
  let eventsRead = 0;
  let largestRead = 0;
  let appends = 0;
  before(async () => {
    log = await EmbeddedEventLog.open(dir, { fsync: false });
    // The real log, seen through a proxy that says so and counts what stream reads return.
    const readStream = async (streamId: string, fromSeq?: number, limit?: number) => {
      const out = await log.readStream(streamId, fromSeq, limit);
      eventsRead += out.length;
      largestRead = Math.max(largestRead, out.length);
      return out;
    };
    const proxy = (append: EventLog['append']) =>
      new Proxy(log, {
        get(target, key) {
          if (key === 'concurrentWriters') return true;
          if (key === 'readStream') return readStream;
          if (key === 'append') return append;
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    shared = proxy((...args) => {
      appends++;
      return log.append(...args);
    });
    // Each append reaches the log 5 ms after the call, as a broker's answer does: a command decided
    // right after another finds it in flight.
    slow = proxy(async (...args) => {
      appends++;
      await new Promise((r) => setTimeout(r, 5));
      return log.append(...args);
    });
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after a lost race reads only the events it missed, not the whole stream again', async () => {
    const a = new AggregateCache(shared, counter, 'a');
    const b = new AggregateCache(shared, counter, 'b');
    await Promise.all(Array.from({ length: 2000 }, (_, i) => a.execute('long', { now: i }, add(`a${i}`))));
    await b.peek('long');
    eventsRead = 0;
    // The two processes take turns: every command of each loses one race first.
    for (let i = 0; i < 50; i++) await (i % 2 ? a : b).execute('long', { now: i }, add(`turn ${i}`));
    assert.ok(eventsRead <= 100, `${eventsRead} events read for 50 turns on a stream of 2,050`);
    assert.equal((await a.peek('long')).version, 2050);
    assert.equal((await log.readStream('long')).length, 2050);
  });

  it('loads a long stream a page of events at a time', async () => {
    const tally: AggregateDefinition<{ count: number }, Counted> = { codec, initial: () => ({ count: 0 }), evolve: (s) => ({ count: s.count + 1 }) };
    const events = Array.from({ length: 1000 }, (_, i) => codec.encode({ type: 'DatanetCreated', data: { datanetId: 'd', name: `n${i}`, tags: [] } }, i));
    for (let i = 0; i < 25; i++) await log.append('very-long', events, { expectedVersion: i * 1000, producer: 'test' });
    largestRead = 0;
    eventsRead = 0;
    const loaded = await new AggregateCache(shared, tally, 'c').peek('very-long');
    assert.deepEqual([loaded.state.count, loaded.version], [25_000, 25_000]);
    assert.equal(eventsRead, 25_000, 'each event read once');
    assert.equal(largestRead, 10_000, 'no more than a page of 10,000 events held at once');
  });

  it('never appends a command decided on events that lost the race', async () => {
    const a = new AggregateCache(shared, counter, 'a');
    await a.execute('raced', { now: 0 }, add('first'));
    // Another process appends right as the first of three concurrent commands is decided.
    let interfered = false;
    const first = (s: { count: number; names: string[] }) => {
      if (!interfered) {
        interfered = true;
        interfere(log, 'raced');
      }
      return seeing('c0')(s);
    };
    await Promise.all([a.execute('raced', { now: 1 }, first), a.execute('raced', { now: 2 }, seeing('c1')), a.execute('raced', { now: 3 }, seeing('c2'))]);
    const names = (await log.readStream('raced')).map((e) => codec.decode(e)!.data.name);
    assert.equal(names.length, 5);
    assertEachDecidedOnTheOneBefore(names);
  });

  it('refuses a command only on the stream read to its end', async () => {
    const a = new AggregateCache(shared, counter, 'a');
    const b = new AggregateCache(shared, counter, 'b');
    await a.execute('gate', { now: 0 }, add('closed'));
    await b.peek('gate');
    await a.execute('gate', { now: 1 }, add('open'));
    // b's cache still ends with 'closed': a decision on it alone would refuse.
    const enter = (s: { count: number; names: string[] }) => {
      if (s.names.at(-1) !== 'open') throw new Error('the gate is closed');
      return add('entered')(s);
    };
    const { result } = await b.execute('gate', { now: 2 }, enter);
    assert.equal(result, 3);
    await assert.rejects(b.execute('nowhere', { now: 3 }, enter), /the gate is closed/);
  });
  it('decides the commands that come while an append is in flight on top of it, and appends them as one', async () => {
    const a = new AggregateCache(slow, counter, 'a');
    await a.execute('piped', { now: 0 }, add('first'));
    // As a client stream of contributions does: each decided once the one before is decided, none
    // waiting for the log.
    appends = 0;
    const durable: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) durable.push((await a.decide('piped', { now: i }, seeing(`c${i}`))).durable);
    await Promise.all(durable);
    assert.ok(appends < 30, `300 commands in ${appends} appends`);
    const names = (await log.readStream('piped')).map((e) => codec.decode(e)!.data.name);
    assert.equal(names.length, 301);
    for (let i = 1; i < names.length; i++) assert.equal(names[i], `c${i - 1} after ${names[i - 1]}`);
    assert.equal((await a.peek('piped')).version, 301);
  });

  /**
   * Three commands decided one after another on `stream`, another process appending right as the
   * second is decided, on top of the first (in flight): their outcomes.
   */
  async function loseARace(a: AggregateCache<{ count: number; names: string[] }, Counted>, stream: string) {
    await a.execute(stream, { now: 0 }, add('first'));
    let interfered = false;
    const second = (s: { count: number; names: string[] }) => {
      if (!interfered && s.count === 2) {
        interfered = true;
        interfere(log, stream);
      }
      return seeing('c1')(s);
    };
    const decided = [await a.decide(stream, { now: 1 }, seeing('c0')), await a.decide(stream, { now: 2 }, second), await a.decide(stream, { now: 3 }, seeing('c2'))];
    const outcomes = await Promise.allSettled(decided.map((d) => d.durable));
    assert.ok(interfered, 'the second was decided while the first was in flight');
    return outcomes;
  }

  it('decides again, on the stream read again, every command decided on an append that lost its race; then stops deciding ahead there', async () => {
    const a = new AggregateCache(slow, counter, 'a');
    const outcomes = await loseARace(a, 'lost');
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
    assert.ok(refused.length >= 2 && refused.every((e) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT'), `refused: ${refused}`);
    // Decided again (as execute does), each on the stream as the log has it.
    for (const [i, o] of outcomes.entries()) if (o.status === 'rejected') await a.execute('lost', { now: 10 + i }, seeing(`again c${i}`));
    const names = (await log.readStream('lost')).map((e) => codec.decode(e)!.data.name);
    assertEachDecidedOnTheOneBefore(names);
    assert.ok(names.includes('other'));
    // The stream is now contended: commands wait for the one before, one append each. (Counted
    // from here: a command decided again may itself have read the stream a moment before the other
    // process's event was readable, and lose once more.)
    appends = 0;
    const more = [];
    for (let i = 0; i < 5; i++) more.push((await a.decide('lost', { now: 20 + i }, seeing(`late ${i}`))).durable);
    await Promise.all(more);
    assert.equal(appends, 5);
  });

  it('decides ahead again once the stream has gone its wait (contendedMs) without a race', async () => {
    const a = new AggregateCache(slow, counter, 'a', { contendedMs: () => 0 });
    const outcomes = await loseARace(a, 'brief');
    assert.ok(outcomes.some((o) => o.status === 'rejected'), 'a race was lost');
    for (const [i, o] of outcomes.entries()) if (o.status === 'rejected') await a.execute('brief', { now: 10 + i }, seeing(`again c${i}`));
    appends = 0;
    const more = [];
    for (let i = 0; i < 5; i++) more.push((await a.decide('brief', { now: 20 + i }, seeing(`late ${i}`))).durable);
    await Promise.all(more);
    assert.ok(appends < 5, `5 commands in ${appends} appends`);
    assertEachDecidedOnTheOneBefore((await log.readStream('brief')).map((e) => codec.decode(e)!.data.name));
  });
});

describe('contentionAfterRace', () => {
  it('waits `first` after a race, twice as long while races keep coming, and `first` again after a quiet spell', () => {
    const first = contentionAfterRace(undefined, 1000, 60_000);
    assert.deepEqual(first, { until: 61_000, backoff: 60_000 });
    // Within a wait's length of the last one's end: doubled.
    const again = contentionAfterRace(first, 100_000, 60_000);
    assert.deepEqual(again, { until: 220_000, backoff: 120_000 });
    // Never beyond an hour.
    let c = again;
    for (let t = 200_000; c.backoff < 3_600_000; t = c.until) c = contentionAfterRace(c, t, 60_000);
    assert.equal(contentionAfterRace(c, c.until, 60_000).backoff, 3_600_000);
    // A race long after the last wait ended (more than its length): from `first` again.
    assert.deepEqual(contentionAfterRace(again, 220_000 + 120_000, 5000), { until: 345_000, backoff: 5000 });
  });
});
