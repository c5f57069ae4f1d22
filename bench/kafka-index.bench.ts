import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KafkaEventLog } from '@opal/event-log-kafka';
import { intOption, type BenchSuite } from './harness.js';
import { deleteTopics } from '@opal/test-infra';
import { benchBrokers } from './kafka-bench.js';
import type { ProbeInput, ProbeResult } from './kafka-index/probe.js';

// npm run bench -- kafka-index [--json] [--events=300000] [--streams=500] [--partitions=3] [--memory-mb=16]
// What a process pays to open the Kafka log as a service replica does at start: a log of `events`
// events over `streams` streams is written once, then a fresh process per setting reads it into its
// index (from offset zero) and reads every stream back whole, as aggregates load:
// - index_catch_up_ms / index_catch_up_events_per_s: until every partition is in the index;
//   index_first_stream_ms: until the first stream's version is known (one partition);
// - index_memory_bytes_per_event: growth of the JavaScript heap and of memory outside it (the
//   records' bytes) over the index, after collection, per event; index_rss_bytes_per_event likewise
//   for the whole process;
// - index_bytes_in_memory / index_bytes_on_disk: where the records' bytes are;
// - read_stream_events_per_s: events decoded by reading every stream whole.
// Settings: every record in memory; records past --memory-mb in the index's file; and that index kept
// across restarts (OPAL_KAFKA_INDEX_PERSIST, as services run): its first start reads from offset zero
// and writes a snapshot at close (index_close_ms, index_snapshot_bytes_per_event), its restart loads
// the snapshot (restored_events) and confirms it against Kafka instead.

export const run: BenchSuite = async (ctx) => {
  const brokers = await benchBrokers(ctx);
  if (!brokers) return;
  const events = intOption(ctx, 'events', 300_000);
  const streams = intOption(ctx, 'streams', 500);
  const partitions = intOption(ctx, 'partitions', 3);
  const memoryMb = intOption(ctx, 'memory-mb', 16, 0);
  const prefix = `bench-index-${process.pid}-${Date.now()}.`;
  try {
    const t0 = performance.now();
    await write(brokers, prefix, partitions, events, streams);
    ctx.progress(`${events} events over ${streams} streams written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const kept = mkdtempSync(join(tmpdir(), 'opal-bench-index-kept-'));
    const settings: { memoryBytes: number | null; keptIn?: string; label: string }[] = [
      { memoryBytes: null, label: 'all' },
      { memoryBytes: memoryMb << 20, label: `${memoryMb} MiB` },
      // A replica's first start with its index kept (from offset zero, then a snapshot at close),
      // and its next start on that folder (from the snapshot).
      { memoryBytes: memoryMb << 20, keptIn: kept, label: `${memoryMb} MiB, kept, first start` },
      { memoryBytes: memoryMb << 20, keptIn: kept, label: `${memoryMb} MiB, kept, restart` },
    ];
    try {
      for (const { memoryBytes, keptIn, label } of settings) {
        const r = await probe({ brokers, prefix, streams, memoryBytes, keptIn });
        if (r.events !== events || r.eventsRead !== events) throw new Error(`the index holds ${r.events} events and streams read ${r.eventsRead}, not ${events}`);
        const params = { events, streams, partitions, record_bytes: r.recordBytes, index_memory: label, restored_events: r.restoredEvents };
        if (keptIn) {
          ctx.report({ metric: 'index_close_ms', value: Math.round(r.closeMs), unit: 'ms', params });
          ctx.report({ metric: 'index_snapshot_bytes_per_event', value: Math.round((r.snapshotBytes / events) * 10) / 10, unit: 'B/event', params });
        }
        const per = (bytes: number) => Math.round((bytes / events) * 10) / 10;
        ctx.report({ metric: 'index_first_stream_ms', value: Math.round(r.firstStreamMs), unit: 'ms', params });
        ctx.report({ metric: 'index_catch_up_ms', value: Math.round(r.catchUpMs), unit: 'ms', params });
        ctx.report({ metric: 'index_catch_up_events_per_s', value: Math.round(events / (r.catchUpMs / 1000)), unit: 'events/s', params });
        ctx.report({ metric: 'index_memory_bytes_per_event', value: per(r.heapBytes + r.externalBytes), unit: 'B/event', params: { ...params, heap: per(r.heapBytes), outside_heap: per(r.externalBytes) } });
        ctx.report({ metric: 'index_rss_bytes_per_event', value: per(r.rssBytes), unit: 'B/event', params });
        ctx.report({ metric: 'index_bytes_in_memory', value: r.bytesInMemory, unit: 'B', params });
        ctx.report({ metric: 'index_bytes_on_disk', value: r.bytesInFile, unit: 'B', params });
        ctx.report({ metric: 'read_stream_events_per_s', value: Math.round(events / (r.readStreamMs / 1000)), unit: 'events/s', params });
      }
    } finally {
      rmSync(kept, { recursive: true, force: true });
    }
  } finally {
    await deleteTopics(brokers, prefix);
  }
};

/** The log to open: `streams` streams appended in batches of 10, 160-byte payloads. */
async function write(brokers: string[], prefix: string, partitions: number, events: number, streams: number): Promise<void> {
  const log = await KafkaEventLog.connect({ brokers, clientId: 'bench-index-writer', logLevel: 'nothing', topics: { prefix, defaultPartitions: partitions }, groupPrefix: prefix });
  const batch = Array.from({ length: 10 }, () => ({ type: 'BenchEvent', payload: new Uint8Array(160).fill(42), occurredAt: 1_700_000_000_000 }));
  try {
    await Promise.all(
      Array.from({ length: streams }, async (_, s) => {
        for (let v = 0; (v / 10) * streams + s < events / 10; v += 10) {
          const n = Math.min(10, events - ((v / 10) * streams + s) * 10);
          await log.append(`bench-${s}`, batch.slice(0, n), { expectedVersion: v, producer: 'bench' });
        }
      }),
    );
  } finally {
    await log.close();
  }
}

async function probe(input: ProbeInput): Promise<ProbeResult> {
  const script = fileURLToPath(new URL('./kafka-index/probe.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, JSON.stringify(input)], { maxBuffer: 1 << 20, timeout: 300_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ProbeResult;
}
