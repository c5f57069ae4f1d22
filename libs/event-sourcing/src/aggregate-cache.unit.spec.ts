import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddedEventLog, EventLogError, type EventLog } from '@opal/event-log';
import { AggregateCache, CONFLICT_ATTEMPTS, type AggregateDefinition } from './aggregate-cache.js';
import type { DomainEvent } from './domain-event.js';
import { TypedEventCodec } from './typed-event-codec.js';
import { FileSnapshotStore, MemorySnapshotStore } from './aggregate-snapshots.js';
import { countingReads } from './testing/counting-reads.js';

// Counter events through a catalogued type (the codec needs one): DatanetCreated's name carries the count.
type Counted = DomainEvent<'DatanetCreated', { datanetId: string; name: string; tags: string[] }>;
const codec = new TypedEventCodec<Counted>('opal.ingest.v1', ['DatanetCreated']);
const counter: AggregateDefinition<{ count: number; names: string[] }, Counted> = {
  codec,
  initial: () => ({ count: 0, names: [] }),
  evolve: (s, e) => ({ count: s.count + 1, names: [...s.names, e.data.name] }),
};
const add = (name: string) => (s: { count: number }) => ({ events: [{ type: 'DatanetCreated' as const, data: { datanetId: 'd', name, tags: [] } }], result: s.count + 1 });
// Each decision names the event it saw last: in the log that must be the event before it.
const seeing = (tag: string) => (s: { count: number; names: string[] }) => add(`${tag} after ${s.names.at(-1)}`)(s);

function assertEachDecidedOnTheOneBefore(names: readonly string[]): void {
  for (let i = 1; i < names.length; i++) {
    const saw = / after (.*)$/.exec(names[i]!)?.[1];
    if (saw !== undefined) assert.equal(saw, names[i - 1], `event ${i + 1} was decided on the events before it: ${names.join(' | ')}`);
  }
}

/** Another process's append to the stream, taken by the log at once. */
function interfere(log: EmbeddedEventLog, stream: string): void {
  void log.append(stream, [codec.encode({ type: 'DatanetCreated', data: { datanetId: 'd', name: 'other', tags: [] } }, 1)], { expectedVersion: 'any', producer: 'other' });
}

/**
 * An embedded log of the enclosing describe, opened before its tests and removed after them; a
 * proxy, so the tests name it as the log itself.
 */
function embeddedLog(prefix: string): EmbeddedEventLog {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let log: EmbeddedEventLog | undefined;
  before(async () => {
    log = await EmbeddedEventLog.open(dir, { fsync: false });
  });
  after(async () => {
    await log?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return new Proxy({} as EmbeddedEventLog, {
    get: (_t, key) => {
      const value = Reflect.get(log!, key, log);
      return typeof value === 'function' ? value.bind(log) : value;
    },
  });
}

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

  it(`gives up after ${CONFLICT_ATTEMPTS} lost races and reports the conflict`, async () => {
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
    await assert.rejects(b.execute('s2', { now: 3 }, racing), (e: unknown) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT');
    assert.equal(decisions, CONFLICT_ATTEMPTS);
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

  it('decides again, on the stream read again, every command decided on an append that lost its race; then stops deciding ahead there', async () => {
    const a = new AggregateCache(slow, counter, 'a');
    await a.execute('lost', { now: 0 }, add('first'));
    // Another process appends right as the second command is decided, on top of the first.
    let interfered = false;
    const second = (s: { count: number; names: string[] }) => {
      if (!interfered && s.count === 2) {
        interfered = true;
        interfere(log, 'lost');
      }
      return seeing('c1')(s);
    };
    const decided = [await a.decide('lost', { now: 1 }, seeing('c0')), await a.decide('lost', { now: 2 }, second), await a.decide('lost', { now: 3 }, seeing('c2'))];
    const outcomes = await Promise.allSettled(decided.map((d) => d.durable));
    assert.ok(interfered, 'the second was decided while the first was in flight');
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
    assert.ok(refused.length >= 2 && refused.every((e) => e instanceof EventLogError && e.code === 'VERSION_CONFLICT'), `refused: ${refused}`);
    // Decided again (as execute does), each on the stream as the log has it.
    eventsRead = 0;
    appends = 0;
    for (const [i, o] of outcomes.entries()) if (o.status === 'rejected') await a.execute('lost', { now: 10 + i }, seeing(`again c${i}`));
    const names = (await log.readStream('lost')).map((e) => codec.decode(e)!.data.name);
    assertEachDecidedOnTheOneBefore(names);
    assert.ok(names.includes('other'));
    // The stream is now contended: commands wait for the one before, one append each.
    const more = [];
    for (let i = 0; i < 5; i++) more.push((await a.decide('lost', { now: 20 + i }, seeing(`late ${i}`))).durable);
    await Promise.all(more);
    assert.equal(appends, refused.length + 5);
  });
});

// A counter that snapshots: its state as JSON, a new snapshot once 10 events lie past the last.
const snapshotting: AggregateDefinition<{ count: number; names: string[] }, Counted> = {
  ...counter,
  snapshot: {
    schema: 1,
    every: 10,
    encode: (s) => new TextEncoder().encode(JSON.stringify(s)),
    decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as { count: number; names: string[] },
  },
};

describe('AggregateCache snapshots', () => {
  const log = embeddedLog('opal-aggregate-snapshots-');
  const dir = mkdtempSync(join(tmpdir(), 'opal-snapshot-files-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fill = async (stream: string, from: number, to: number) => {
    const cache = new AggregateCache(log, counter, 'writer');
    for (let i = from; i <= to; i++) await cache.execute(stream, { now: i }, add(`n${i}`));
  };

  it('loads from the latest snapshot and the events after it, to the state of the whole stream', async () => {
    await fill('snap-a', 1, 25);
    const snapshots = new MemorySnapshotStore();
    const first = countingReads(log);
    const loaded = await new AggregateCache(first.log, snapshotting, 'p', { snapshots }).peek('snap-a');
    assert.deepEqual([loaded.version, first.read()], [25, 25], 'no snapshot yet: the whole stream');
    assert.equal((await snapshots.load('snap-a'))?.streamVersion, 25, 'saved: 25 events were folded');
    await fill('snap-a', 26, 29);
    const second = countingReads(log);
    const again = await new AggregateCache(second.log, snapshotting, 'p', { snapshots }).peek('snap-a');
    assert.deepEqual(again, await new AggregateCache(log, counter, 'p').peek('snap-a'));
    assert.deepEqual([again.version, second.read()], [29, 1 + 4], 'the event at the snapshot (checked) and the 4 after it');
    assert.equal((await snapshots.load('snap-a'))?.streamVersion, 25, 'fewer than 10 folded: the snapshot stays');
    // A command goes on from the loaded state.
    const cache = new AggregateCache(log, snapshotting, 'p', { snapshots });
    assert.equal((await cache.execute('snap-a', { now: 30 }, add('n30'))).result, 30);
  });

  it('saves snapshots as the commands of a process that stays up reach the log', async () => {
    const snapshots = new MemorySnapshotStore();
    const cache = new AggregateCache(log, snapshotting, 'p', { snapshots });
    const saved: number[] = [];
    for (let i = 1; i <= 35; i++) {
      await cache.execute('snap-up', { now: i }, add(`n${i}`));
      await new Promise((r) => setImmediate(r)); // the save follows the append
      const at = (await snapshots.load('snap-up'))?.streamVersion;
      if (at !== undefined && at !== saved.at(-1)) saved.push(at);
    }
    assert.deepEqual(saved, [10, 20, 30]);
    // A burst of commands decided while others are still on their way to the log: a snapshot is
    // taken only of a state the log holds in full, so the load from it equals the whole stream's.
    await Promise.all(Array.from({ length: 12 }, (_, i) => cache.execute('snap-up', { now: 100 + i }, add(`burst${i}`))));
    await cache.execute('snap-up', { now: 200 }, add('quiet'));
    await new Promise((r) => setImmediate(r));
    const last = await snapshots.load('snap-up');
    assert.ok(last && last.streamVersion > 30, `a later snapshot: ${last?.streamVersion}`);
    const c = countingReads(log);
    const restarted = await new AggregateCache(c.log, snapshotting, 'p', { snapshots }).peek('snap-up');
    assert.deepEqual(restarted, await new AggregateCache(log, counter, 'p').peek('snap-up'));
    assert.equal(c.read(), 1 + restarted.version - last!.streamVersion);
  });

  it('reads the whole stream past a snapshot of another schema, of another log, or unreadable', async () => {
    await fill('snap-b', 1, 12);
    const errors: unknown[] = [];
    const wholeStreamRead = async (snapshots: MemorySnapshotStore) => {
      const c = countingReads(log);
      const got = await new AggregateCache(c.log, snapshotting, 'p', { snapshots, onSnapshotError: (e) => errors.push(e) }).peek('snap-b');
      assert.deepEqual(got, await new AggregateCache(log, counter, 'p').peek('snap-b'));
      return c.read();
    };
    const good = { schema: 1, streamVersion: 12, hash: Buffer.from((await log.readStream('snap-b', 12, 1))[0]!.hash).toString('hex'), state: new TextEncoder().encode('{"count":0,"names":[]}') };
    const store = async (s: typeof good) => {
      const m = new MemorySnapshotStore();
      await m.save('snap-b', s);
      return m;
    };
    assert.equal(await wholeStreamRead(await store({ ...good, schema: 2 })), 12, 'another schema');
    assert.equal(await wholeStreamRead(await store({ ...good, hash: '00'.repeat(32) })), 1 + 12, 'the log holds another event there');
    assert.equal(await wholeStreamRead(await store({ ...good, streamVersion: 40 })), 12, 'the log is shorter than the snapshot');
    assert.equal(errors.length, 0);
    assert.equal(await wholeStreamRead(await store({ ...good, state: new TextEncoder().encode('{not json') })), 1 + 12, 'unreadable');
    assert.equal(errors.length, 1);
  });

  it('keeps snapshots in files of a folder, replaced whole, for any stream id', async () => {
    const folder = join(dir, 'snapshots');
    const files = new FileSnapshotStore(folder);
    const odd = 'tenant-ä/b:c\nd';
    assert.equal(await files.load(odd), undefined);
    await files.save(odd, { schema: 3, streamVersion: 7, hash: 'ab'.repeat(32), state: new Uint8Array([0x0a, 1, 2]) });
    await files.save(odd, { schema: 3, streamVersion: 9, hash: 'cd'.repeat(32), state: new Uint8Array([3, 0x0a]) });
    const back = await new FileSnapshotStore(folder).load(odd);
    assert.deepEqual(back, { schema: 3, streamVersion: 9, hash: 'cd'.repeat(32), state: new Uint8Array([3, 0x0a]) });
    assert.equal(await files.load('another'), undefined);
  });
});

describe('AggregateCache with a memory budget', () => {
  const log = embeddedLog('opal-aggregate-budget-');
  // Each name held weighs 100 bytes.
  const weighed: AggregateDefinition<{ count: number; names: string[] }, Counted> = { ...counter, weight: (s) => 100 * s.names.length };
  const fill = async (stream: string, n: number) => {
    const cache = new AggregateCache(log, counter, 'writer');
    for (let i = 0; i < n; i++) await cache.execute(stream, { now: i }, add(`${stream}-${i}`));
  };

  it('drops the least recently used aggregates past its budget, and loads them again from the log when used', async () => {
    for (const s of ['b-a', 'b-b', 'b-c', 'b-big']) await fill(s, s === 'b-big' ? 12 : 2);
    const counted = countingReads(log);
    const dropped: string[] = [];
    const cache = new AggregateCache(counted.log, weighed, 'p', { memoryBudgetBytes: 500, onDropped: (id, w) => dropped.push(`${id}:${w}`) });
    await cache.peek('b-a');
    await cache.peek('b-b');
    await cache.execute('b-a', { now: 10 }, add('b-a-more')); // b-a used after b-b
    assert.equal(cache.cachedWeight, 500);
    await cache.peek('b-c');
    assert.deepEqual(dropped, ['b-b:200'], 'b-b was used least recently');
    assert.equal(cache.cachedWeight, 500);

    const before = counted.read();
    assert.deepEqual((await cache.peek('b-a')).state.names, ['b-a-0', 'b-a-1', 'b-a-more'], 'still cached');
    assert.equal(counted.read(), before);
    assert.deepEqual((await cache.peek('b-b')).state, await new AggregateCache(log, counter, 'p').peek('b-b').then((e) => e.state));
    assert.equal(counted.read(), before + 2, 'b-b read again from its stream');
    assert.deepEqual(dropped, ['b-b:200', 'b-c:200']);

    // An aggregate larger than the whole budget stays while it is the one used last.
    assert.equal((await cache.execute('b-big', { now: 11 }, add('b-big-more'))).result, 13);
    assert.deepEqual(dropped.slice(2), ['b-a:300', 'b-b:200']);
    assert.equal(cache.cachedWeight, 1300);
    assert.equal((await cache.execute('b-big', { now: 12 }, add('b-big-last'))).result, 14);
    assert.equal(counted.read(), before + 2 + 12, 'b-big read once');
  });

  it('never drops an aggregate while one of its commands is on its way to the log', async () => {
    await fill('w-held', 1);
    await fill('w-other', 3);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gated = Object.create(log) as EventLog;
    gated.append = async (...args: Parameters<EventLog['append']>) => {
      if (args[0] === 'w-held') await gate;
      return log.append(...args);
    };
    const counted = countingReads(gated);
    const dropped: string[] = [];
    const cache = new AggregateCache(counted.log, weighed, 'p', { memoryBudgetBytes: 250, onDropped: (id) => dropped.push(id) });
    const held = cache.execute('w-held', { now: 1 }, add('w-held-1'));
    await new Promise((r) => setTimeout(r, 20));
    await cache.peek('w-other'); // 200 + 300 > 250: w-held would go, but its command is under way
    assert.deepEqual(dropped, []);
    release();
    assert.equal((await held).result, 2);
    assert.deepEqual(dropped, ['w-other'], 'once its command is in the log, the budget is kept again');
    const reads = counted.read();
    assert.equal((await cache.execute('w-held', { now: 2 }, add('w-held-2'))).result, 3);
    assert.equal(counted.read(), reads, 'w-held stayed cached');
  });

  it('keeps every command of many streams on a log with concurrent writers, dropping and reloading as it goes', async () => {
    const concurrent = new Proxy(log, {
      get(target, key) {
        if (key === 'concurrentWriters') return true;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const dropped: string[] = [];
    const a = new AggregateCache(concurrent, weighed, 'a', { memoryBudgetBytes: 1000, onDropped: (id) => dropped.push(id) });
    const b = new AggregateCache(concurrent, counter, 'b');
    const streams = Array.from({ length: 8 }, (_, i) => `c-${i}`);
    const expected = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 160 }, async (_, i) => {
        const stream = streams[(i * 5) % streams.length]!;
        expected.set(stream, (expected.get(stream) ?? 0) + (i % 7 === 0 ? 2 : 1));
        if (i % 7 === 0) await b.execute(stream, { now: i }, seeing(`b${i}`)); // another process racing on the same streams
        return a.execute(stream, { now: i }, seeing(`a${i}`));
      }),
    );
    assert.ok(dropped.length > 10, `aggregates were dropped: ${dropped.length}`);
    for (const stream of streams) {
      const whole = await new AggregateCache(log, counter, 'check').peek(stream);
      assert.equal(whole.state.count, expected.get(stream), `${stream}: every command once`);
      assertEachDecidedOnTheOneBefore(whole.state.names);
      assert.deepEqual((await a.peek(stream)).state.names, whole.state.names);
    }
  });
});
