import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEventId, GENESIS_HASH, sealBatch, type SealedEvent } from '@opal/event-log';
import { openLogIndex, type LogIndexOptions } from './kept-index.js';
import type { LogIndex } from './log-index.js';

// A LogIndex kept across restarts, without a broker: records fed as the reader feeds them.

const topics = ['t.events', 't.alpha'];
const keys = ['t.events/0', 't.events/1', 't.alpha/0'];

/** Sealed records of `streams` streams, `each` events apiece, spread over the partitions. */
function records(streams: number, each: number, tag = ''): { key: string; sealed: SealedEvent }[] {
  const out: { key: string; sealed: SealedEvent }[] = [];
  for (let s = 0; s < streams; s++) {
    const id = `st-${s}`;
    const events = Array.from({ length: each }, (_, k) => ({ type: 'T', payload: new TextEncoder().encode(`${tag}${s}.${k}`), occurredAt: 1 }));
    for (const sealed of sealBatch(id, 'test', 1, GENESIS_HASH, events, (_e, seq) => defaultEventId(id, seq))) out.push({ key: keys[s % keys.length]!, sealed });
  }
  return out;
}

/** Feeds records into the index at the next offsets of their partitions; returns the offsets used. */
function feed(index: LogIndex, recs: readonly { key: string; sealed: SealedEvent }[], next: Map<string, number>): { key: string; offset: number; bytes: Uint8Array }[] {
  return recs.map(({ key, sealed }) => {
    const offset = next.get(key) ?? 0;
    next.set(key, offset + 1);
    index.ingest(key, offset, sealed.bytes);
    return { key, offset, bytes: sealed.bytes };
  });
}

/** A kept index as the log holds it: the index, with its keeper's snapshot and due, and both closed at once. */
function kept(options: LogIndexOptions) {
  const { index, keeper } = openLogIndex(options);
  return Object.assign(index, {
    snapshot: async () => (await keeper?.snapshot()) ?? false,
    snapshotDue: () => keeper?.due() ?? false,
    closeAll: async () => {
      await keeper?.close();
      index.close();
    },
  });
}

const view = (index: LogIndex, streams: number) =>
  Array.from({ length: streams }, (_, s) => {
    const head = index.head(`st-${s}`);
    return `${s}:${head?.seq}:${Buffer.from(head?.hash ?? []).toString('hex').slice(0, 16)}:${index.stream(`st-${s}`).map((e) => `${e.position.partition}@${e.position.offset}`).join(',')}`;
  });

describe('LogIndex kept across restarts', () => {
  const dirs: string[] = [];
  const folder = () => {
    const d = mkdtempSync(join(tmpdir(), 'opal-log-index-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const options = (dir: string) => ({ dir, chunkBytes: 512, memoryBytes: 2048, persist: { topics } });

  it('loads what it held from its snapshot, each partition waiting for confirmation, and goes on from there', async () => {
    const dir = folder();
    const first = kept(options(dir));
    const next = new Map<string, number>();
    const fed = feed(first, records(40, 7), next);
    // A race loser: a second first event of st-0, kept out of the stream.
    first.ingest(keys[0]!, next.get(keys[0]!)!, records(1, 1, 'loser ')[0]!.sealed.bytes);
    next.set(keys[0]!, next.get(keys[0]!)! + 1);
    const before = view(first, 40);
    assert.equal(await first.snapshot(), true);
    await first.closeAll();

    const again = kept(options(dir));
    try {
      assert.equal(again.restored, 280);
      assert.deepEqual(again.stats(), { events: 280, streams: 40, bytes: first.stats().bytes });
      assert.deepEqual(view(again, 40), before, 'heads, hashes and places of every stream');
      assert.equal(again.wasRejected(keys[0]!, next.get(keys[0]!)! - 1), true);
      for (const key of keys) {
        assert.equal(again.checking(key), true);
        const last = fed.filter((f) => f.key === key).at(-1)!;
        assert.equal(again.next(key), last.offset, 'reads from its last event, to confirm it');
        assert.equal(again.confirm(key, last.offset - 1, null), 'before');
        assert.equal(again.confirm(key, last.offset, last.bytes), 'confirmed');
        assert.equal(again.next(key), next.get(key), 'then from where it got to');
      }
      assert.equal(again.confirming, false);
      // More of the log: the streams go on from their loaded heads.
      const more = records(40, 9).filter((r) => r.sealed.event.streamSeq > 7);
      feed(again, more, next);
      assert.equal(again.stats().events, 360);
      assert.equal(again.head('st-5')?.seq, 9);
      assert.equal(again.stream('st-5', 8).length, 2);
    } finally {
      await again.closeAll();
    }
    const third = kept(options(dir));
    try {
      assert.equal(third.restored, 360, 'close wrote the rest');
    } finally {
      await third.closeAll();
    }
  });

  it('takes nothing on trust that Kafka contradicts: a different last record means diverged, and reset empties it, snapshot and records file too', async () => {
    const dir = folder();
    const first = kept(options(dir));
    const fed = feed(first, records(10, 3), new Map());
    await first.closeAll();
    const again = kept(options(dir));
    const last = fed.filter((f) => f.key === keys[1]).at(-1)!;
    assert.equal(again.confirm(keys[1]!, last.offset, records(10, 3, 'other ').find((r) => r.key === keys[1])!.sealed.bytes), 'diverged');
    assert.equal(again.confirm(keys[1]!, last.offset + 1, last.bytes), 'diverged', 'past the record without meeting it');
    assert.equal(again.endFits(keys[1]!, last.offset), false, 'a partition that ends before it');
    again.reset();
    assert.deepEqual(again.stats(), { events: 0, streams: 0, bytes: 0 });
    assert.equal(again.next(keys[1]!), 0);
    assert.equal(again.head('st-1'), undefined);
    const sub = join(dir, readdirSync(dir)[0]!);
    assert.deepEqual(readdirSync(sub).sort(), ['lock', 'records']);
    assert.equal(statSync(join(sub, 'records')).size, 0);
    await again.closeAll();
    const fresh = kept(options(dir));
    assert.equal(fresh.restored, 0, 'nothing to load after a reset');
    await fresh.closeAll();
  });

  it('writes the chunk being filled once: each snapshot adds to the file only what came since the last', async () => {
    const dir = folder();
    const index = kept({ dir, chunkBytes: 1 << 20, memoryBytes: 1 << 30, persist: { topics } });
    const next = new Map<string, number>();
    const recs = records(30, 4);
    const sizes: number[] = [];
    for (let i = 0; i < recs.length; i += 20) {
      feed(index, recs.slice(i, i + 20), next);
      assert.equal(await index.snapshot(), true);
      sizes.push(statSync(join(dir, readdirSync(dir)[0]!, 'records')).size);
    }
    await index.closeAll();
    assert.equal(sizes.at(-1), index.stats().bytes, `the records once each, not again at each of ${sizes.length} snapshots`);
    const again = kept({ dir, chunkBytes: 1 << 20, memoryBytes: 1 << 30, persist: { topics } });
    try {
      assert.equal(again.restored, 120);
      assert.deepEqual(again.stream('st-29').map((e) => Buffer.from(e.payload).toString()), ['29.0', '29.1', '29.2', '29.3']);
    } finally {
      await again.closeAll();
    }
  });

  it('keeps no index where its folder cannot be made, saying so, and works as one not kept', async () => {
    const file = join(folder(), 'a-file');
    writeFileSync(file, 'not a folder');
    let index: ReturnType<typeof kept> | undefined;
    const warned: string[] = [];
    const listen = (w: Error & { code?: string }) => w.code === 'OPAL_KAFKA_INDEX_SNAPSHOT' && warned.push(w.message);
    process.on('warning', listen);
    try {
      index = kept({ dir: file, chunkBytes: 512, memoryBytes: 2048, persist: { topics } });
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', listen);
    }
    assert.match(warned.join('\n'), /cannot keep the index/);
    feed(index, records(5, 3), new Map());
    assert.equal(index.head('st-4')?.seq, 3);
    assert.equal(await index.snapshot(), false);
    await index.closeAll();
  });

  it('writes no snapshot while a partition waits for confirmation, and says when one is due', async () => {
    const dir = folder();
    const first = kept(options(dir));
    feed(first, records(5, 2), new Map());
    assert.equal(first.snapshotDue(), true, 'events since the last (none)');
    assert.equal(await first.snapshot(), true);
    assert.equal(first.snapshotDue(), false);
    await first.closeAll();
    const again = kept(options(dir));
    assert.equal(await again.snapshot(), false);
    assert.equal(again.snapshotDue(), false);
    await again.closeAll();
  });
});
