import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { FileSnapshotStore } from '@opal/event-sourcing';
import { inferenceCodec, tenantStream, TenantRepository, type InferenceEvent } from '@opal/inference';
import { intOption, type BenchSuite } from './harness.js';

// npm run bench -- aggregates [--json] [--inferences=200000]
// A busy tenant's write model, loaded as the first inference after a restart loads it: its stream
// holds a hold and a settlement per inference (on the embedded log, in a folder of its own).
// - tenant_load_ms / tenant_load_cpu_ms, from=stream: the whole stream folded, as with
//   no snapshot (the load saves one);
// - the same, from=snapshot: the snapshot that load saved, and the events after it (none here).
export const run: BenchSuite = async (ctx) => {
  const inferences = intOption(ctx, 'inferences', 200_000);
  const dir = mkdtempSync(join(tmpdir(), 'opal-bench-aggregates-'));
  const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
  try {
    const stream = tenantStream('busy');
    const encode = (events: InferenceEvent[]) => events.map((e) => inferenceCodec.encode(e, 1_700_000_000_000));
    await log.append(stream, encode([{ type: 'TenantCreated', data: { tenant: 'busy', apiKeyHash: 'h' } }, { type: 'TenantCredited', data: { tenant: 'busy', amount: '1000000000000', reference: 'r1' } }]), { expectedVersion: 0, producer: 'bench' });
    let version = 2;
    for (let i = 0; i < inferences; i += 500) {
      const batch: InferenceEvent[] = [];
      for (let j = i; j < Math.min(inferences, i + 500); j++) {
        batch.push({ type: 'BalanceHeld', data: { tenant: 'busy', inferenceId: `inf-${j}`, amount: '1000', expiresAt: 1_700_000_060_000n } });
        batch.push({ type: 'HoldSettled', data: { tenant: 'busy', inferenceId: `inf-${j}`, charged: '700', amount: '1000' } });
      }
      await log.append(stream, encode(batch), { expectedVersion: version, producer: 'bench' });
      version += batch.length;
    }
    const snapshots = new FileSnapshotStore(join(dir, 'snapshots'));
    for (const from of ['stream', 'snapshot']) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const loaded = await new TenantRepository(log, snapshots).peek(stream);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      if (loaded.version !== version) throw new Error(`loaded version ${loaded.version}, not ${version}`);
      const params = { inferences, stream_events: version, from };
      ctx.report({ metric: 'tenant_load_ms', value: Number((seconds * 1000).toFixed(2)), unit: 'ms', params });
      ctx.report({ metric: 'tenant_load_cpu_ms', value: Number(((cpu.user + cpu.system) / 1000).toFixed(2)), unit: 'ms', params });
    }
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
};
