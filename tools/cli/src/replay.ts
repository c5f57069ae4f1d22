import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { combineDigests, projectionDigest, type OpalConfig, type ProjectionDigest } from '@opal/service-runtime';
import type { ServiceName } from '@opal/contracts';
import { services } from './service-registry.js';

/** `seconds` is wall time of the rebuild; `cpuSeconds` the process's CPU time for it. */
export type ReplayResult = { digest: string; projections: ProjectionDigest[]; events: number; seconds: number; cpuSeconds: number };

/**
 * Rebuilds every read model from offset zero, in memory, from the embedded log, and returns the
 * state digest. The same reducers as the live services; nothing is written.
 */
export async function replayFromLog(
  config: OpalConfig,
  onProgress?: (done: number, total: number) => void,
  only?: readonly ServiceName[],
): Promise<ReplayResult> {
  const log = await EmbeddedEventLog.open(join(config.dataDir, 'log'), { readOnly: true });
  try {
    const store = new MemoryDocumentStore();
    const selected = (Object.keys(services) as ServiceName[]).filter((s) => !only || only.includes(s));
    const runners: { service: string; runner: ProjectionRunner<DomainEvent> }[] = [];
    for (const service of selected) {
      for (const p of services[service].projections) {
        await store.prepare(p.name, p.collections);
        runners.push({ service, runner: new ProjectionRunner(log, store, p as Projection<DomainEvent>) });
      }
    }
    const total = log.length;
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    for (let at = 0; at < total; ) {
      const batch = log.readRange(at, 20_000);
      for (const r of runners) await r.runner.apply(batch);
      at += batch.length;
      onProgress?.(at, total);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const projections: ProjectionDigest[] = [];
    for (const r of runners) projections.push(await projectionDigest(store, r.service, r.runner.projection, r.runner.appliedEvents));
    projections.sort((a, b) => a.projection.localeCompare(b.projection));
    return { digest: combineDigests(projections), projections, events: total, seconds, cpuSeconds };
  } finally {
    await log.close();
  }
}
