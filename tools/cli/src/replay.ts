import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EMBEDDED_PARTITION, EmbeddedEventLog, readToEnd, type Cursor, type EventLog } from '@opal/event-log';
import { KafkaEventLog } from '@opal/event-log-kafka';
import { isKafka, openEventLog } from './backends.js';
import { MemoryDocumentStore, ProjectionEventError, ProjectionRebuild, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { combineDigests, projectionDigest, type OpalConfig, type ProjectionDigest } from '@opal/service-runtime';
import type { ServiceName } from '@opal/contracts';
import { services } from './service-registry.js';
import { SetAside, type LeftOut } from './set-aside.js';

/**
 * `seconds` is the wall time of the rebuild itself (every event through every projection), not of
 * opening the log or digesting the result; `cpuSeconds` the CPU time of the rebuild (all threads).
 */
export type ReplayResult = {
  digest: string;
  projections: ProjectionDigest[];
  events: number;
  seconds: number;
  cpuSeconds: number;
  /** With `skipDeadLettered`: the events left out, per projection. */
  leftOut?: LeftOut[];
};

export type ReplayOptions = {
  readonly only?: readonly ServiceName[];
  /**
   * Worker threads; projections are shared out among them (at most one thread per projection).
   * Each thread reads and decodes the whole log and loads the services' code, so threads pay off
   * only for large logs on an otherwise idle machine. Default 1.
   */
  readonly workers?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Kafka: leave out of each projection the events its live subscription set aside in the
   * dead-letter topic (poison it could not apply), so that the digest is the one of the read models
   * the platform serves. Without it, a replay meeting such an event fails naming it.
   */
  readonly skipDeadLettered?: boolean;
};

type Selected = { service: ServiceName; projection: Projection<DomainEvent> };

/** Rough relative cost of rebuilding a projection, for sharing them out among threads. */
const cost = (p: Projection<DomainEvent>) => p.collections.length + p.collections.reduce((n, c) => n + c.indexes.length, 0);

export function selectProjections(only?: readonly ServiceName[]): Selected[] {
  const out: Selected[] = [];
  for (const service of Object.keys(services) as ServiceName[]) {
    if (only && !only.includes(service)) continue;
    for (const projection of services[service].projections) out.push({ service, projection });
  }
  return out;
}

/**
 * Rebuilds read models from offset zero, in memory, from the embedded log, and returns the state
 * digest; nothing is written. Projections are independent, so they are shared out among worker
 * threads, each reading the log itself: the same reducers, the same digests, in less time.
 */
export async function replayFromLog(config: OpalConfig, options: ReplayOptions = {}): Promise<ReplayResult> {
  const selected = selectProjections(options.only);
  const workers = Math.max(1, Math.min(options.workers ?? 1, availableParallelism(), selected.length));
  if (isKafka(config)) {
    // Scaled out: one thread reads every domain topic through the adapter (workers apply to the embedded log).
    const log = await openEventLog(config, true);
    try {
      // Before the log's ends are taken: every event set aside by then is below them.
      const setAside = options.skipDeadLettered ? new SetAside(await (log as KafkaEventLog).deadLetters(), selected.map((s) => s.projection)) : undefined;
      const r = await replayFrom(log, selected, options.onProgress, setAside).catch((error: unknown) => {
        if (!(error instanceof ProjectionEventError)) throw error;
        const hint = setAside
          ? "no live subscription of this projection's version set it aside: `opal log dead-letters` lists those that did"
          : 'a live read model on Kafka sets such an event aside: `opal log dead-letters` lists them, and `opal replay --skip-dead-lettered` leaves them out as the live read models did';
        throw new Error(`${error.message}\n  (${hint})`, { cause: error });
      });
      return { ...r, digest: combineDigests(r.projections), ...(setAside ? { leftOut: setAside.leftOut } : {}) };
    } finally {
      await log.close();
    }
  }
  if (workers === 1) {
    const r = await replayProjections(join(config.dataDir, 'log'), selected, options.onProgress);
    return { ...r, digest: combineDigests(r.projections) };
  }
  // Heaviest first, each to the least loaded thread.
  const groups: Selected[][] = Array.from({ length: workers }, () => []);
  const load = new Array<number>(workers).fill(0);
  for (const s of [...selected].sort((a, b) => cost(b.projection) - cost(a.projection))) {
    const i = load.indexOf(Math.min(...load));
    groups[i]!.push(s);
    load[i]! += cost(s.projection);
  }
  // One length for every thread: each opens the log itself, and a node appending meanwhile would
  // give each thread another length, and the combined digest no state the log ever had.
  const upTo = await logLength(join(config.dataDir, 'log'));
  const done = new Array<number>(workers).fill(0);
  const results = await Promise.all(
    groups.map(
      (group, i) =>
        new Promise<Omit<ReplayResult, 'digest'>>((resolve, reject) => {
          const worker = new Worker(new URL('./replay.worker.js', import.meta.url), {
            workerData: { logDir: join(config.dataDir, 'log'), projections: group.map((s) => s.projection.name), upTo },
          });
          worker.on('message', (m: { type: 'progress'; done: number; total: number } | { type: 'done'; result: Omit<ReplayResult, 'digest'> }) => {
            if (m.type === 'progress') {
              done[i] = m.done;
              options.onProgress?.(Math.min(...done), m.total);
            } else resolve(m.result);
          });
          worker.on('error', reject);
          worker.on('exit', (code) => code !== 0 && reject(new Error(`replay worker exited with ${code}`)));
        }),
    ),
  );
  const projections = results.flatMap((r) => r.projections).sort((a, b) => a.projection.localeCompare(b.projection));
  return {
    digest: combineDigests(projections),
    projections,
    events: results[0]!.events,
    // Threads run side by side: the rebuild takes as long as the slowest.
    seconds: Math.max(...results.map((r) => r.seconds)),
    cpuSeconds: results.reduce((n, r) => n + r.cpuSeconds, 0),
  };
}

/** The records an embedded log holds now. */
async function logLength(logDir: string): Promise<number> {
  const log = await EmbeddedEventLog.open(logDir, { readOnly: true });
  try {
    return log.length;
  } finally {
    await log.close();
  }
}

/** Runs the given projections over the log in this thread: its first `upTo` records (all when absent). */
export async function replayProjections(
  logDir: string,
  selected: readonly Selected[],
  onProgress?: (done: number, total: number) => void,
  upTo?: number,
): Promise<Omit<ReplayResult, 'digest'>> {
  const log = await EmbeddedEventLog.open(logDir, { readOnly: true });
  try {
    return await rebuildFrom(log, selected, onProgress, upTo);
  } finally {
    await log.close();
  }
}

/**
 * The embedded log: records straight from the file's bytes into the projections
 * (ProjectionRebuild), in small batches so that little is live when the young generation is
 * collected.
 */
async function rebuildFrom(
  log: EmbeddedEventLog,
  selected: readonly Selected[],
  onProgress?: (done: number, total: number) => void,
  upTo?: number,
): Promise<Omit<ReplayResult, 'digest'>> {
  const store = new MemoryDocumentStore();
  const rebuild = new ProjectionRebuild(store, selected.map((s) => s.projection));
  await rebuild.prepare();
  const total = Math.min(log.length, upTo ?? log.length);
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const apply = rebuild.apply.bind(rebuild);
  for (let at = 0; at < total; ) {
    at += log.scanRange(at, 1_000, apply);
    if (onProgress && at % 20_000 < 1_000) onProgress(at, total);
  }
  onProgress?.(total, total);
  await rebuild.finish({ [EMBEDDED_PARTITION]: total });
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const projections: ProjectionDigest[] = [];
  for (const { service, projection } of selected) {
    projections.push(await projectionDigest(store, service, projection, rebuild.appliedEvents(projection.name)));
  }
  return { projections, events: total, seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** Any other log (Kafka): through `read` with a cursor and a ProjectionRunner per projection. */
async function replayFrom(
  log: EventLog,
  selected: readonly Selected[],
  onProgress?: (done: number, total: number) => void,
  setAside?: SetAside,
): Promise<Omit<ReplayResult, 'digest'>> {
  const store = new MemoryDocumentStore();
  const runners: { service: string; runner: ProjectionRunner<DomainEvent> }[] = [];
  for (const { service, projection } of selected) {
    await store.prepare(projection.name, projection.collections);
    runners.push({ service, runner: new ProjectionRunner(log, store, projection) });
  }
  // Up to the log's ends now: writes that come meanwhile are not part of this replay.
  const until = log.endsOf ? await log.endsOf() : undefined;
  const total = (await log.stats()).events;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let at = 0;
  for await (const batch of readToEnd(log, 20_000, until)) {
    for (const r of runners) await r.runner.apply(setAside ? setAside.filter(r.runner.projection.name, batch) : batch);
    at += batch.length;
    onProgress?.(at, Math.max(at, total));
  }
  setAside?.checkAllMet();
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const projections: ProjectionDigest[] = [];
  for (const r of runners) projections.push(await projectionDigest(store, r.service, r.runner.projection, r.runner.appliedEvents));
  return { projections, events: at, seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}
