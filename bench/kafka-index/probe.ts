import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { KafkaEventLog } from '@opal/event-log-kafka';

// One fresh process opening a KafkaEventLog on a log that is already there, as a service replica
// starts: node probe.js <json of ProbeInput>; prints one ProbeResult as JSON on stdout.
/** `keptIn`: the index is kept across restarts in that folder (left there for the next probe). */
export type ProbeInput = { brokers: string[]; prefix: string; streams: number; memoryBytes: number | null; keptIn?: string };
export type ProbeResult = {
  /** Until the first stream's version is known (its partition read from offset zero). */
  firstStreamMs: number;
  /** Until every partition is read. */
  catchUpMs: number;
  events: number;
  recordBytes: number;
  /** Growth of the process's memory from before connecting to after the index is complete. */
  heapBytes: number;
  externalBytes: number;
  rssBytes: number;
  bytesInMemory: number;
  bytesInFile: number;
  /** Every stream read back whole, as an aggregate loads. */
  readStreamMs: number;
  eventsRead: number;
  /** Events loaded from the index's snapshot at start (kept indexes). */
  restoredEvents: number;
  /** How long close took (a kept index writes its snapshot then), and the snapshot's size. */
  closeMs: number;
  snapshotBytes: number;
};

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const measure = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
};

const input = JSON.parse(process.argv[2]!) as ProbeInput;
const dir = input.keptIn ?? mkdtempSync(join(tmpdir(), 'opal-bench-index-'));
try {
  const before = measure();
  const t0 = performance.now();
  const log = await KafkaEventLog.connect({
    brokers: input.brokers,
    clientId: 'bench-index-probe',
    logLevel: 'nothing',
    topics: { prefix: input.prefix },
    groupPrefix: input.prefix,
    index: { memoryBytes: input.memoryBytes ?? Infinity, dir, persist: input.keptIn !== undefined },
  });
  await log.streamVersion('bench-0');
  const firstStreamMs = performance.now() - t0;
  const stats = await log.stats();
  const catchUpMs = performance.now() - t0;
  const after = measure();
  const footprint = log.indexFootprint();
  const t1 = performance.now();
  let eventsRead = 0;
  for (let s = 0; s < input.streams; s++) eventsRead += (await log.readStream(`bench-${s}`)).length;
  const readStreamMs = performance.now() - t1;
  const t2 = performance.now();
  await log.close();
  const closeMs = performance.now() - t2;
  const result: ProbeResult = {
    firstStreamMs,
    catchUpMs,
    events: stats.events,
    recordBytes: stats.bytes,
    heapBytes: after.heap - before.heap,
    externalBytes: after.external - before.external,
    rssBytes: after.rss - before.rss,
    bytesInMemory: footprint.bytesInMemory,
    bytesInFile: footprint.bytesInFile,
    readStreamMs,
    eventsRead,
    restoredEvents: footprint.restoredEvents,
    closeMs,
    snapshotBytes: input.keptIn ? snapshotSize(input.keptIn) : 0,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  if (!input.keptIn) rmSync(dir, { recursive: true, force: true });
}

/** Bytes of the snapshot a kept index wrote in `root` (its rows; the records file aside). */
function snapshotSize(root: string): number {
  return readdirSync(root).reduce((n, sub) => n + statSync(join(root, sub, 'index')).size, 0);
}
