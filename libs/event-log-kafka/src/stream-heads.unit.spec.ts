import { after, describe, it } from 'node:test';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import { defaultEventId, encodeEnvelope, GENESIS_HASH, sealBatch, type StoredEvent } from '@opal/event-log';
import { StreamHeads } from './stream-heads.js';
import { LogIndex } from './log-index.js';
import { Column } from '@opal/event-log';
import { RecordArena } from './record-arena.js';
import { resolveTopics } from './kafka-event-log.options.js';

const ev = (type: string) => ({ type, payload: new Uint8Array([1]), occurredAt: 1 });
const seal = (stream: string, fromSeq: number, prev: Uint8Array, types: string[]) =>
  sealBatch(stream, 'p', fromSeq, prev, types.map(ev), (_e, seq) => defaultEventId(stream, seq)).map(
    (s, i): StoredEvent => ({ ...s.event, position: { partition: 't/0', offset: fromSeq + i } }),
  );

describe('StreamHeads: the partition decides a version race', () => {
  it('given head 1, when two writers both append seq 2, then only the first in partition order is admitted', () => {
    const heads = new StreamHeads(false);
    const [first] = seal('s', 1, GENESIS_HASH, ['A']);
    const winner = seal('s', 2, first!.hash, ['X']);
    const loser = seal('s', 2, first!.hash, ['Y', 'Y']);
    assert.equal(heads.admit(first!), true);
    assert.equal(heads.admit(winner[0]!), true);
    assert.deepEqual(loser.map((e) => heads.admit(e)), [false, false]);
    assert.equal(heads.head('s')!.seq, 2);
  });

  it('keeps a copy of the head hash, not a view into the record it was read from', () => {
    const heads = new StreamHeads(false);
    const [e] = seal('s', 1, GENESIS_HASH, ['A']);
    const record = Buffer.alloc(1000);
    record.set(e!.hash, 500);
    const read = { ...e!, hash: record.subarray(500, 532) }; // as decoded from a fetched buffer
    assert.equal(heads.admit(read), true);
    const head = heads.head('s')!;
    assert.deepEqual(head.hash, new Uint8Array(e!.hash));
    assert.notEqual(head.hash.buffer, record.buffer);
    assert.equal(head.hash.byteLength, 32);
  });

  it('refuses a stream that does not start at seq 1 unless it trusts unknown streams', () => {
    const later = seal('s', 5, new Uint8Array(32).fill(7), ['A'])[0]!;
    assert.equal(new StreamHeads(false).admit(later), false);
    assert.equal(new StreamHeads(true).admit(later), true);
  });
});

describe('LogIndex', () => {
  it('indexes accepted events by stream and partition, remembers losers, ignores records it has seen', () => {
    const index = new LogIndex(new RecordArena());
    const a = seal('s', 1, GENESIS_HASH, ['A', 'B']);
    const loser = seal('s', 2, a[0]!.hash, ['Z']);
    const bytes = (e: StoredEvent) => encodeEnvelope(e);
    index.ingest('t/0', 0, bytes(a[0]!));
    index.ingest('t/0', 1, bytes(a[1]!));
    index.ingest('t/0', 2, bytes(loser[0]!));
    index.ingest('t/0', 1, bytes(a[1]!)); // redelivered
    assert.deepEqual(index.stream('s').map((e) => e.type), ['A', 'B']);
    assert.equal(index.wasRejected('t/0', 2), true);
    assert.equal(index.next('t/0'), 3);
    assert.deepEqual(index.eventsFrom('t/0', 1, 10).map((e) => e.position.offset), [1]);
    assert.equal(index.stats().events, 2);
  });

  it('takes records as written only when nothing unread lies before them, and judges them as a reader would', () => {
    const index = new LogIndex(new RecordArena());
    const sealed = (fromSeq: number, prev: Uint8Array, types: string[]) =>
      sealBatch('s', 'p', fromSeq, prev, types.map(ev), (_e, seq) => defaultEventId('s', seq));
    const first = sealed(1, GENESIS_HASH, ['A', 'B']);
    assert.equal(index.ingestWritten('t/0', 3, first), undefined, 'offsets 0-2 are unread: left to the reader');
    assert.equal(index.next('t/0'), 0);
    assert.deepEqual(index.ingestWritten('t/0', 0, first)?.map((e) => e.position.offset), [0, 1]);
    assert.equal(index.next('t/0'), 2);
    assert.deepEqual(index.stream('s').map((e) => [e.type, e.position.offset]), [['A', 0], ['B', 1]]);
    assert.deepEqual(Buffer.from(index.head('s')!.hash), Buffer.from(first[1]!.event.hash));
    // Another writer's record took seq 3 at offset 2 (read by the reader); ours, sealed on the same head, loses.
    const theirs = sealed(3, first[1]!.event.hash, ['X']);
    index.ingest('t/0', 2, encodeEnvelope({ ...theirs[0]!.event }));
    const ours = sealed(3, first[1]!.event.hash, ['Y']);
    assert.equal(index.ingestWritten('t/0', 3, ours)?.length, 1);
    assert.equal(index.wasRejected('t/0', 3), true);
    assert.deepEqual(index.stream('s').map((e) => e.type), ['A', 'B', 'X']);
    // The reader meeting records already taken skips them.
    index.ingest('t/0', 0, encodeEnvelope(first[0]!.event));
    assert.equal(index.stats().events, 3);
  });
});

/** An event with its byte fields as Buffers, so events compare whatever Uint8Array subclass holds them. */
const plain = (e: StoredEvent) => ({ ...e, payload: Buffer.from(e.payload), hash: Buffer.from(e.hash), prevHash: Buffer.from(e.prevHash) });

describe('LogIndex storage', () => {
  const spillDir = mkdtempSync(join(tmpdir(), 'opal-index-test-'));
  after(() => rmSync(spillDir, { recursive: true, force: true }));

  for (const [label, records] of [
    ['all in memory', {}],
    ['past 1 MiB in a file', { memoryBytes: 1 << 20, chunkBytes: 64 << 10, dir: spillDir }],
  ] as const) {
    it(`keeps records as bytes across many chunks, a record larger than a chunk included, and reads them back exactly (${label})`, () => {
      const index = new LogIndex(new RecordArena(records));
      const streams = 7;
      const perStream = 3000;
      const big = new Uint8Array(5 << 20).fill(9); // larger than one 4 MiB chunk
      const written = new Map<string, StoredEvent[]>();
      let offset = 0;
      const prev = new Map<string, Uint8Array>();
      const add = (id: string, payload: Uint8Array) => {
        const seq = (written.get(id)?.length ?? 0) + 1;
        const [e] = sealBatch(id, 'p', seq, prev.get(id) ?? GENESIS_HASH, [{ type: 'T', payload, occurredAt: seq }], (_e, n) => defaultEventId(id, n));
        prev.set(id, e!.event.hash);
        index.ingest('t/0', offset, e!.bytes);
        written.set(id, [...(written.get(id) ?? []), { ...e!.event, position: { partition: 't/0', offset: offset++ } }]);
      };
      add('early', new Uint8Array([1]));
      for (let i = 0; i < perStream; i++) {
        for (let s = 0; s < streams; s++) add(`s${s}`, i === 1500 && s === 3 ? big : new Uint8Array(200 + ((i * 7 + s) % 300)).fill(i % 251));
      }
      // Its head's bytes are long out of memory in the second case: the chain is checked from the file.
      add('early', new Uint8Array([2]));
      assert.equal(index.stats().events, streams * perStream + 2);
      for (const [id, events] of written) {
        const read = index.stream(id);
        assert.equal(read.length, events.length);
        for (let k = 0; k < read.length; k += 499) assert.deepEqual(plain(read[k]!), plain(events[k]!));
        assert.deepEqual(index.stream(id, events.length).map(plain), [plain(events.at(-1)!)]);
        assert.equal(index.head(id)!.seq, events.length);
        assert.deepEqual(Buffer.from(index.head(id)!.hash), Buffer.from(events.at(-1)!.hash));
      }
      assert.deepEqual(index.stream('early').map((e) => [...e.payload]), [[1], [2]]);
      assert.deepEqual(Buffer.from(index.stream('s3', 1501)[0]!.payload), Buffer.from(big));
      const tail = index.eventsFrom('t/0', offset - 3, 10);
      assert.deepEqual(tail.map((e) => e.position.offset), [offset - 3, offset - 2, offset - 1]);
      const { memory, file } = index.placement();
      if (records.memoryBytes === undefined) assert.equal(file, 0);
      else {
        assert.ok(memory <= (1 << 20) + (64 << 10), `${memory} bytes in memory`);
        assert.equal(memory + file, index.stats().bytes);
        assert.deepEqual(readdirSync(spillDir), [], 'the file is unlinked while open');
      }
      index.close();
    });
  }
});

describe('Column', () => {
  it('keeps 200,000 numbers across blocks that start small and double', () => {
    const c = new Column((n) => new Float64Array(n));
    for (let i = 0; i < 200_000; i++) assert.equal(c.push(i * 3 + 0.5), i);
    assert.equal(c.length, 200_000);
    for (const i of [0, 255, 256, 65_535, 65_536, 131_072, 199_999]) assert.equal(c.get(i), i * 3 + 0.5);
  });
});

describe('RecordArena', () => {
  it('keeps views it handed out right after their chunk moved to the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-arena-test-'));
    try {
      const arena = new RecordArena({ memoryBytes: 0, chunkBytes: 16, dir });
      const a = arena.add(Buffer.from('0123456789'));
      const view = arena.read(a.chunk, a.start, 10);
      arena.add(Buffer.from('abcdefghij')); // a new chunk: the first moves out
      assert.deepEqual(arena.placement, { memory: 10, file: 10 });
      assert.equal(view.toString(), '0123456789');
      assert.equal(arena.read(a.chunk, a.start + 2, 3).toString(), '234');
      arena.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps everything in memory, with one warning, when it cannot write its file', async () => {
    const notADir = join(mkdtempSync(join(tmpdir(), 'opal-arena-test-')), 'file');
    writeFileSync(notADir, '');
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    const arena = new RecordArena({ memoryBytes: 0, chunkBytes: 16, dir: notADir });
    const first = arena.add(Buffer.from('0123456789'));
    arena.add(Buffer.from('abcdefghij'));
    arena.add(Buffer.from('ABCDEFGHIJ'));
    assert.match((await warned).message, /cannot write records to disk/);
    assert.deepEqual(arena.placement, { memory: 30, file: 0 });
    assert.equal(arena.read(first.chunk, first.start, 10).toString(), '0123456789');
    rmSync(dirname(notADir), { recursive: true, force: true });
  });
});

describe('topic routing', () => {
  it('routes a stream by the prefix of its id, unmapped prefixes to the default domain', () => {
    const t = resolveTopics({ prefix: 'opal.', streamDomains: { datanet: 'ingest', epoch: 'settlement' }, partitions: { ingest: 6 } });
    assert.equal(t.topicOf('datanet-42'), 'opal.ingest');
    assert.equal(t.topicOf('epoch:7'), 'opal.settlement');
    assert.equal(t.topicOf('misc-1'), 'opal.events');
    assert.deepEqual(t.all, [
      { topic: 'opal.events', partitions: 3 },
      { topic: 'opal.ingest', partitions: 6 },
      { topic: 'opal.settlement', partitions: 3 },
    ]);
    assert.throws(() => resolveTopics({ streamDomains: { x: 'bad name' } }), /not a valid topic/);
  });
});
