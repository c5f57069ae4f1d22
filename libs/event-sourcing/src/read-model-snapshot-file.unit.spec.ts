import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { readReadModelSnapshot, snapshotFiles, writeReadModelSnapshot, type ReadModelSnapshot } from './read-model-snapshot-file.js';
import { MemoryDocumentStore } from './memory-document-store.js';
import type { Doc } from './document-store.port.js';

const snapshotOf = (docs: [string, Doc][], streams: [string, number][] = [['datanet-a', 3]]): ReadModelSnapshot => ({
  checkpoint: { cursor: { log: 42 }, applied: 7, version: 2 },
  streams,
  collections: [
    { name: 'items', ids: docs.map(([id]) => id), docs: docs.map(([, d]) => d) },
    { name: 'empty', ids: [], docs: [] },
  ],
});

describe('read-model snapshot file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'opal-rm-snapshot-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back what it wrote: checkpoint, sequence guard and every collection', async () => {
    // Ids and fields that need escaping, a line over the reader's 1 MiB chunk, a document with nesting.
    const docs: [string, Doc][] = [
      ['a\nb "quoted"', { text: 'line\nbreak', n: 1 }],
      ['big', { text: 'x'.repeat(3 << 20), tail: 'é' }],
      ['nested', { list: [1, { deep: true }], none: null }],
    ];
    const { file } = snapshotFiles(dir, 'p');
    await writeReadModelSnapshot(file, snapshotOf(docs, [['datanet-a', 3], ['tenant-"b"', 9]]));
    const read = await readReadModelSnapshot(dir, 'p');
    assert.ok(read && !(read instanceof Error), String(read));
    assert.deepEqual(read.checkpoint, { cursor: { log: 42 }, applied: 7, version: 2, streams: { 'datanet-a': 3, 'tenant-"b"': 9 } });
    assert.deepEqual([...read.collections.keys()], ['items', 'empty']);
    assert.deepEqual([...read.collections.get('items')!], docs);
    assert.equal(read.collections.get('empty')!.size, 0);
  });

  it('is absent until written, and a file cut short or changed is reported, not loaded', async () => {
    assert.equal(await readReadModelSnapshot(dir, 'p'), undefined);
    const { file } = snapshotFiles(dir, 'p');
    await writeReadModelSnapshot(file, snapshotOf([['a', { n: 1 }], ['b', { n: 2 }]]));
    const whole = readFileSync(file);
    const lines = whole.toString().split('\n');
    writeFileSync(file, lines.slice(0, -2).join('\n') + '\n'); // no trailer
    assert.match(String(await readReadModelSnapshot(dir, 'p')), /ends before its trailer/);
    writeFileSync(file, whole.subarray(0, whole.length - 5)); // trailer cut in the middle
    assert.ok((await readReadModelSnapshot(dir, 'p')) instanceof Error);
    writeFileSync(file, whole.toString().replace('"n":2', '"n":3')); // a document changed
    assert.match(String(await readReadModelSnapshot(dir, 'p')), /trailer does not match/);
    writeFileSync(file, whole.toString().replace(/\n\["doc",0,"b".*\n/, '\n')); // a document dropped
    assert.match(String(await readReadModelSnapshot(dir, 'p')), /trailer does not match/);
  });

  it('still reads the single-JSON layout of earlier releases', async () => {
    const { legacy } = snapshotFiles(dir, 'p');
    writeFileSync(legacy, JSON.stringify({ checkpoint: { cursor: { log: 5 }, streams: { s: 2 }, applied: 5 }, collections: { items: [['a', { n: 1 }]] } }));
    const read = await readReadModelSnapshot(dir, 'p');
    assert.ok(read && !(read instanceof Error));
    assert.deepEqual(read.checkpoint, { cursor: { log: 5 }, streams: { s: 2 }, applied: 5 });
    assert.deepEqual([...read.collections.get('items')!], [['a', { n: 1 }]]);
  });
});

describe('MemoryDocumentStore snapshots', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'opal-memory-snapshots-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const specs = [{ name: 'items', indexes: ['kind'] }];
  const write = (id: string, n: number) => ({ collection: 'items', id, doc: { kind: 'k', n } });

  it('a snapshot holds the state of the commit that took it, not of commits made while it is written', async () => {
    const store = new MemoryDocumentStore({ dir, snapshotEvery: 2 });
    await store.prepare('p', specs);
    await store.commit('p', [write('a', 1)], { cursor: { log: 1 }, streams: { s: 1 }, applied: 1 });
    const guard: Record<string, number> = { s: 2 };
    await store.commit('p', [write('a', 2), write('b', 1)], { cursor: { log: 3 }, streams: guard, applied: 2 }); // due: taken now
    // The runner moves its guard in place and commits on while the snapshot is being written.
    guard['s'] = 9;
    await store.commit('p', [write('a', 3), write('c', 1)], { cursor: { log: 4 }, streams: guard, applied: 3 });
    const taken = await waitFor(() => readReadModelSnapshot(dir, 'p'));
    assert.deepEqual(taken.checkpoint, { cursor: { log: 3 }, streams: { s: 2 }, applied: 2 });
    assert.deepEqual([...taken.collections.get('items')!], [['a', { kind: 'k', n: 2 }], ['b', { kind: 'k', n: 1 }]]);
    await store.close(); // changed since: written again
    const closed = await readReadModelSnapshot(dir, 'p');
    assert.ok(closed && !(closed instanceof Error));
    assert.deepEqual(closed.checkpoint, { cursor: { log: 4 }, streams: { s: 9 }, applied: 3 });
    assert.equal(closed.collections.get('items')!.size, 3);
  });

  it('is due once the events since the last outnumber both snapshotEvery and the documents', async () => {
    const store = new MemoryDocumentStore({ dir, snapshotEvery: 2 });
    await store.prepare('p', specs);
    // 10 documents from 10 events: not due before 10 events since the last snapshot.
    const ten = Array.from({ length: 10 }, (_, i) => write(`d${i}`, 0));
    await store.commit('p', ten, { cursor: { log: 10 }, streams: {}, applied: 10 });
    const first = await waitFor(() => readReadModelSnapshot(dir, 'p'));
    assert.equal(first.checkpoint.applied, 10);
    for (let applied = 11; applied <= 19; applied++) {
      await store.commit('p', [write('d0', applied)], { cursor: { log: applied }, streams: {}, applied });
      await store.snapshotsWritten();
      const now = await readReadModelSnapshot(dir, 'p');
      assert.ok(now && !(now instanceof Error));
      assert.equal(now.checkpoint.applied, 10, `no snapshot after ${applied - 10} events over 10 documents`);
    }
    await store.commit('p', [write('d0', 20)], { cursor: { log: 20 }, streams: {}, applied: 20 });
    await store.snapshotsWritten();
    const second = await readReadModelSnapshot(dir, 'p');
    assert.ok(second && !(second instanceof Error));
    assert.equal(second.checkpoint.applied, 20);
    assert.equal(second.collections.get('items')!.get('d0')!['n'], 20);
    await store.close();
  });

  it('a snapshot that is not whole is reported and the projection starts from nothing; close writes a good one', async () => {
    const store = new MemoryDocumentStore({ dir });
    await store.prepare('p', specs);
    await store.commit('p', [write('a', 1)], { cursor: { log: 1 }, streams: {}, applied: 1 });
    await store.close();
    const { file } = snapshotFiles(dir, 'p');
    writeFileSync(file, readFileSync(file).subarray(0, 20));
    const errors: Error[] = [];
    const reopened = new MemoryDocumentStore({ dir, onSnapshotError: (e) => errors.push(e) });
    await reopened.prepare('p', specs);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /p\.snapshot\.ndjson/);
    assert.equal(await reopened.loadCheckpoint('p'), undefined);
    assert.equal(await reopened.get('items', 'a'), undefined);
    await reopened.commit('p', [write('a', 1)], { cursor: { log: 1 }, streams: {}, applied: 1 });
    await reopened.close();
    const again = new MemoryDocumentStore({ dir, onSnapshotError: (e) => errors.push(e) });
    await again.prepare('p', specs);
    assert.equal(errors.length, 1);
    assert.deepEqual(await again.get('items', 'a'), { kind: 'k', n: 1 });
    assert.deepEqual(await again.find('items', { where: { kind: 'k' } }), { items: [{ kind: 'k', n: 1 }], total: 1 });
  });

  it('replaces a snapshot of the earlier layout with one of its own', async () => {
    const { legacy, file } = snapshotFiles(dir, 'p');
    writeFileSync(legacy, JSON.stringify({ checkpoint: { cursor: { log: 1 }, streams: {}, applied: 1 }, collections: { items: [['a', { kind: 'k', n: 1 }]] } }));
    const store = new MemoryDocumentStore({ dir });
    await store.prepare('p', specs);
    assert.deepEqual(await store.get('items', 'a'), { kind: 'k', n: 1 });
    await store.commit('p', [write('b', 1)], { cursor: { log: 2 }, streams: {}, applied: 2 });
    await store.close();
    assert.throws(() => statSync(legacy), /ENOENT/);
    assert.ok(statSync(file).size > 0);
  });

  it('holds a read model larger than the longest string there can be (2^29 characters)', { timeout: 120_000 }, async () => {
    // 520 documents of 1 MiB each: the state as one JSON string would pass V8's limit, which ended
    // the old single-JSON snapshot with "Invalid string length".
    const text = 'y'.repeat(1 << 20);
    const store = new MemoryDocumentStore({ dir, snapshotEvery: 1 });
    await store.prepare('p', [{ name: 'items', indexes: [] }]);
    const writes = Array.from({ length: 520 }, (_, i) => ({ collection: 'items', id: `d${i}`, doc: { i, text } }));
    await store.commit('p', writes, { cursor: { log: 520 }, streams: {}, applied: 520 });
    await store.close();
    assert.ok(statSync(snapshotFiles(dir, 'p').file).size > 2 ** 29);
    const reopened = new MemoryDocumentStore({ dir, onSnapshotError: (e) => assert.fail(e) });
    await reopened.prepare('p', [{ name: 'items', indexes: [] }]);
    assert.equal((await reopened.loadCheckpoint('p'))?.applied, 520);
    assert.equal((await reopened.digest('items')).digest, (await store.digest('items')).digest);
  });
});

/** Polls until `read` gives a whole snapshot (the store writes in the background). */
async function waitFor<T>(read: () => Promise<T | Error | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const r = await read();
    if (r !== undefined && !(r instanceof Error)) return r;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('no snapshot was written');
}
