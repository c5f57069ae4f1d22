import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { contentHashOf, contributionIdOf, DatanetRepository, ingestCodec, type IngestEvent } from '@opal/ingest';
import { replayFromLog } from '@opal/cli';
import { loadConfig } from '@opal/service-runtime';
import { wallet } from '@opal/testkit';
import type { BenchSuite } from './harness.js';

/**
 * Rebuilds every ingest read model from an embedded log of realistic ingest events (a Datanet's
 * ContributionSubmitted + ContributionAccepted pairs with MinHash signatures, some rejections,
 * versions), as `opal replay` does.   --events N (default 400000)
 * Then loads one Datanet's aggregate from the reopened log, as the first command on it after a
 * restart does (aggregate_load_*).
 */
export const run: BenchSuite = async (ctx) => {
  const target = Number(ctx.options['events'] ?? 400_000);
  const keep = typeof ctx.options['dir'] === 'string' ? ctx.options['dir'] : undefined;
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'opal-bench-replay-'));
  try {
    if (keep && existsSync(join(dir, 'log', 'events.log'))) {
      ctx.progress(`reusing the log in ${dir}`);
      return await measure(ctx, dir);
    }
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    const contributors = Array.from({ length: 200 }, (_, i) => wallet(i).address);
    const datanets = Array.from({ length: 8 }, (_, i) => `bench-${i}`);
    const t0 = 1_760_000_000_000;
    let written = 0;
    const append = async (datanetId: string, events: IngestEvent[], at: number) => {
      await log.append(`datanet-${datanetId}`, events.map((e) => ingestCodec.encode(e, at)), { expectedVersion: 'any', producer: 'ingest' });
      written += events.length;
    };
    for (const d of datanets) {
      await append(d, [{ type: 'DatanetCreated', data: { datanetId: d, name: d, description: 'bench', tags: ['bench'], dataKind: 'text', jsonSchema: '', license: 'CC0-1.0', owner: contributors[0]!, policy: { maxItemBytes: 65536, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 800_000, validators: [] } } }], t0);
    }
    ctx.progress(`writing ${target} events`);
    const minhash = new Uint8Array(512).map((_, i) => (i * 31) & 0xff);
    const signature = new Uint8Array(65).fill(7);
    for (let i = 0; written < target; i++) {
      const datanetId = datanets[i % datanets.length]!;
      const contributor = contributors[i % contributors.length]!;
      const nonce = BigInt(i + 1);
      const contributionId = contributionIdOf(datanetId, contributor, nonce);
      const contentHash = contentHashOf(new TextEncoder().encode(`content ${i}`));
      const at = t0 + i * 1000;
      if (i % 20 === 19) {
        await append(datanetId, [{ type: 'ContributionRejected', data: { datanetId, contributionId, contributor, reason: 'DUPLICATE', detail: 'same content', duplicateOf: contributionId, contentHash, sizeBytes: 1024, nonce } }], at);
      } else {
        await append(
          datanetId,
          [
            { type: 'ContributionSubmitted', data: { datanetId, contributionId, contributor, contentHash, sizeBytes: 1024, nonce, signature, minhash } },
            { type: 'ContributionAccepted', data: { datanetId, contributionId, contributor, contentHash, sizeBytes: 1024 } },
          ],
          at,
        );
      }
    }
    await log.close();
    await measure(ctx, dir);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
};

async function measure(ctx: Parameters<BenchSuite>[0], dir: string): Promise<void> {
    const bytes = statSync(join(dir, 'log', 'events.log')).size;
    ctx.progress(`replaying (${(bytes / 1e6).toFixed(0)} MB of log)`);
    // `dir/log` is where a node keeps its log under OPAL_DATA_DIR.
    const workers = ctx.options['workers'] === undefined ? undefined : Number(ctx.options['workers']);
    const r = await replayFromLog(loadConfig({ OPAL_DATA_DIR: dir }), { only: ['ingest'], workers });
    ctx.report({ metric: 'events_per_s', value: Math.round(r.events / r.seconds), unit: 'events/s', params: { events: r.events, log_bytes: bytes, read_models: r.projections.length } });
    ctx.report({ metric: 'events_per_cpu_s', value: Math.round(r.events / r.cpuSeconds), unit: 'events/cpu-s', params: { events: r.events, load_average_1m: Number(loadavg()[0]!.toFixed(2)) } });
    ctx.report({ metric: 'replay_seconds', value: Number(r.seconds.toFixed(3)), unit: 's', params: { events: r.events } });
    // The write model: a Datanet's stream read and folded, as ingest does at its first command on it.
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    try {
      const datanets = new DatanetRepository(log);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const { state, version } = await datanets.peek('datanet-bench-0');
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const params = { stream_events: version, contributions: state.contributions.size };
      ctx.report({ metric: 'aggregate_load_seconds', value: Number(seconds.toFixed(3)), unit: 's', params });
      ctx.report({ metric: 'aggregate_load_events_per_cpu_s', value: Math.round(version / ((cpu.user + cpu.system) / 1e6)), unit: 'events/cpu-s', params });
    } finally {
      await log.close();
    }
}
