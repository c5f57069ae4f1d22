import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AggregateCache, type AggregateDefinition } from './aggregate-cache.js';
import { FileSnapshotStore, MemorySnapshotStore } from './aggregate-snapshots.js';
import { countingReads } from './testing/counting-reads.js';
import { add, counter, embeddedLog, type Counted } from './testing/counter-aggregate.js';

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
