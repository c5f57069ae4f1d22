import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventLog } from '@opal/event-log';
import { AggregateCache, type AggregateDefinition } from './aggregate-cache.js';
import { countingReads } from './testing/counting-reads.js';
import { add, assertEachDecidedOnTheOneBefore, counter, embeddedLog, seeing, type Counted } from './testing/counter-aggregate.js';

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
