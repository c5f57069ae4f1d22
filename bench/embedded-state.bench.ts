import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemoryDocumentStore, type DocWrite } from '@opal/event-sourcing';
import { intOption, type BenchContext, type BenchSuite } from './harness.js';

// npm run bench -- embedded-state [--json] [--documents=1000000] [--streams=500000]
// What the one-process node holds and writes as its state grows:
// - a read model of `documents` contribution documents (as ingest.contributions keeps them)
//   snapshotted by MemoryDocumentStore: snapshot_write_seconds (in the background, in chunks),
//   snapshot_longest_pause_ms (the longest the event loop waited meanwhile), snapshot_bytes, and
//   snapshot_load_seconds for a fresh store reading it back;
// - an embedded log of `streams` streams of one event each (an inference's), opened as a restart
//   opens it: log_open_seconds, and log_index_bytes_per_stream (heap and array buffers grown by the
//   open, after collection).

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export const run: BenchSuite = async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-bench-embedded-state-'));
  try {
    await readModelSnapshot(ctx, join(dir, 'state'), intOption(ctx, 'documents', 1_000_000));
    await logIndex(ctx, join(dir, 'log'), intOption(ctx, 'streams', 500_000));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

async function readModelSnapshot(ctx: BenchContext, dir: string, documents: number): Promise<void> {
  const spec = [{ name: 'ingest_contributions', indexes: ['contributor', 'datanetId'] }];
  const store = new MemoryDocumentStore({ dir, snapshotEvery: Number.MAX_SAFE_INTEGER });
  await store.prepare('ingest.contributions', spec);
  const writes: DocWrite[] = [];
  for (let i = 0; i < documents; i++) {
    const id = `0x${i.toString(16).padStart(64, '0')}`;
    writes.push({
      collection: 'ingest_contributions',
      id,
      doc: { contributionId: id, datanetId: `medical-qa-${i % 8}`, contributor: `0x${(i % 5000).toString(16).padStart(40, '0')}`, contentHash: `0x${(i * 7).toString(16).padStart(64, '0')}`, sizeBytes: 100 + (i % 4000), status: 'ACCEPTED', reason: '', duplicateOf: '', submittedAt: 1_760_000_000_000 + i, seq: i + 1 },
    });
  }
  await store.commit('ingest.contributions', writes, { cursor: { log: documents * 2 }, streams: {}, applied: documents * 2 });
  writes.length = 0;
  ctx.progress(`${documents} documents in the read model; snapshotting`);
  let longest = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  await store.snapshot('ingest.contributions');
  const writeSeconds = (performance.now() - t0) / 1000;
  clearInterval(ticker);
  const bytes = statSync(join(dir, 'ingest.contributions.snapshot.ndjson')).size;
  const params = { documents };
  ctx.report({ metric: 'snapshot_write_seconds', value: round(writeSeconds, 3), unit: 's', params });
  ctx.report({ metric: 'snapshot_longest_pause_ms', value: Math.round(longest), unit: 'ms', params });
  ctx.report({ metric: 'snapshot_bytes', value: bytes, unit: 'B', params });
  const t1 = performance.now();
  const fresh = new MemoryDocumentStore({ dir, onSnapshotError: (e) => { throw e; } });
  await fresh.prepare('ingest.contributions', spec);
  const loadSeconds = (performance.now() - t1) / 1000;
  const loaded = (await fresh.digest('ingest_contributions')).documents;
  if (loaded !== documents) throw new Error(`the snapshot loaded ${loaded} documents, not ${documents}`);
  ctx.report({ metric: 'snapshot_load_seconds', value: round(loadSeconds, 3), unit: 's', params });
}

async function logIndex(ctx: BenchContext, dir: string, streams: number): Promise<void> {
  const writer = await EmbeddedEventLog.open(dir, { fsync: false });
  const payload = new Uint8Array(200).fill(7);
  for (let i = 0; i < streams; i += 2000) {
    const appends = [];
    for (let j = i; j < Math.min(streams, i + 2000); j++) {
      appends.push(writer.append(`inference-${j.toString(16).padStart(32, '0')}`, [{ type: 'opal.inference.v1.InferenceCompleted', payload, occurredAt: 1_760_000_000_000 }], { expectedVersion: 'no_stream', producer: 'bench' }));
    }
    await Promise.all(appends);
  }
  await writer.close();
  ctx.progress(`${streams} one-event streams written; opening`);
  const before = memory();
  const t0 = performance.now();
  const log = await EmbeddedEventLog.open(dir, { fsync: false });
  const openSeconds = (performance.now() - t0) / 1000;
  const after = memory();
  const { streams: indexed } = await log.stats();
  await log.close();
  if (indexed !== streams) throw new Error(`the log indexed ${indexed} streams, not ${streams}`);
  const params = { streams, events_per_stream: 1 };
  ctx.report({ metric: 'log_open_seconds', value: round(openSeconds, 3), unit: 's', params });
  const heap = (after.heap - before.heap) / streams;
  const arrays = (after.arrays - before.arrays) / streams;
  ctx.report({ metric: 'log_index_bytes_per_stream', value: round(heap + arrays, 1), unit: 'B/stream', params: { ...params, heap: round(heap, 1), array_buffers: round(arrays, 1) } });
}

/** Heap and array buffers in use, after collection (twice: array buffers are freed a moment later). */
function memory(): { heap: number; arrays: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrays: m.arrayBuffers };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
