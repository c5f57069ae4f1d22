import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpalProcess, call, clientStream, grpcClient, rng, signContributionFast, text, vocabulary, wallet } from '@opal/testkit';
import { ensureInfra, freePort } from '@opal/test-infra';
import { sample, scrape } from '../test/scale-out/metrics-scrape.js';
import { settledOwners } from '../test/scale-out/command-owners.js';
import type { BenchContext, BenchSuite } from './harness.js';
import { scaledOutCluster } from './kafka-bench.js';

// npm run bench -- ingest-replicas [--json] [--items=4000] [--bytes=512]
// Two client streams of signed contributions into one Datanet at once, on the local Kafka broker and
// MongoDB-wire server, from the first message sent to the last response; requests are signed before
// the clock starts. Three layouts in the same run, each on topics and a database of its own:
// - racing: two `opal serve ingest` replicas, one stream to each, each deciding on its own copy of
//   the Datanet (no OPAL_ADVERTISE_HOST): their appends race, and a lost race is decided again;
// - routed: the same replicas advertising 127.0.0.1, so the one owning the Datanet's partition
//   decides every contribution and the other sends its stream's items on;
// - single: one replica taking both streams, for reference.
// Metrics: <layout>_contributions_per_s, <layout>_lost_races (appends refused because the other
// replica had appended since, both replicas), and routed_to_racing_ratio.

type Layout = 'racing' | 'routed' | 'single';

export const run: BenchSuite = async (ctx) => {
  const items = Number(ctx.options['items'] ?? 4000);
  const bytes = Number(ctx.options['bytes'] ?? 512);
  const infra = await ensureInfra(['kafka', 'mongo']);
  if (infra.skipped) return ctx.progress(infra.reason);
  const datanetId = 'bench-net';
  ctx.progress(`signing 2 x ${items} contributions of ${bytes} bytes`);
  const words = vocabulary(4000);
  const streams = [0, 1].map((s) => {
    const r = rng(500 + s);
    const contributors = Array.from({ length: 8 }, (_, i) => wallet(2000 + s * 8 + i));
    return Array.from({ length: items }, (_, i) => {
      const w = contributors[i % contributors.length]!;
      const content = new TextEncoder().encode(text(r, words, bytes));
      const nonce = BigInt(Math.floor(i / contributors.length) + 1);
      return { datanetId, content: Buffer.from(content), contributor: w.address, nonce: nonce.toString(), signature: signContributionFast(w, datanetId, content, nonce) };
    });
  });
  const rates: Partial<Record<Layout, number>> = {};
  for (const layout of ['racing', 'routed', 'single'] as const) {
    const { seconds, lostRaces } = await streamInto(ctx, layout, streams);
    rates[layout] = (2 * items) / seconds;
    const params = { items: 2 * items, bytes, streams: 2, replicas: layout === 'single' ? 1 : 2, event_log: 'kafka', store: 'mongodb' };
    ctx.report({ metric: `${layout}_contributions_per_s`, value: Math.round(rates[layout]!), unit: 'contributions/s', params });
    ctx.report({ metric: `${layout}_lost_races`, value: lostRaces, unit: 'appends', params });
  }
  ctx.report({ metric: 'routed_to_racing_ratio', value: Math.round((rates.routed! / rates.racing!) * 100) / 100, unit: 'ratio', params: { items: 2 * items, bytes } });
};

/** One layout, from processes started on fresh topics and database to both streams answered. */
async function streamInto(ctx: BenchContext, layout: Layout, streams: readonly object[][]): Promise<{ seconds: number; lostRaces: number }> {
  const cluster = (await scaledOutCluster(`replicas-${layout}`))!;
  const env = { ...cluster.env, ...(layout === 'routed' ? { OPAL_ADVERTISE_HOST: '127.0.0.1' } : {}) };
  const dirs = Array.from({ length: layout === 'single' ? 1 : 2 }, () => mkdtempSync(join(tmpdir(), 'opal-bench-replica-')));
  const metrics: number[] = [];
  const replicas: OpalProcess[] = [];
  for (const dir of dirs) {
    metrics.push(await freePort());
    replicas.push(new OpalProcess(dir, { command: ['serve', 'ingest'], env: { ...env, OPAL_METRICS_PORT: String(metrics.at(-1)) } }));
  }
  const clients: any[] = [];
  try {
    for (const r of replicas) await r.start();
    clients.push(...replicas.map((r) => grpcClient(r.url, 'ingest')));
    if (layout === 'routed') await settledOwners(cluster.brokers, `${cluster.env.OPAL_KAFKA_TOPIC_PREFIX}owners.ingest`, replicas.length);
    await call(clients[0], 'createDatanet', { datanetId: 'bench-net', name: 'Bench', dataKind: 'text', license: 'CC0-1.0', owner: wallet(0).address, policy: { maxItemBytes: 8192 } });
    // Warm up each replica's code paths, the Datanet in memory and (routed) the connections between them.
    const warm = wallet(2999);
    for (const [i, c] of clients.entries()) {
      const content = Buffer.from(`warm-up ${i} of ${layout}`);
      await call(c, 'submitContribution', { datanetId: 'bench-net', content, contributor: warm.address, nonce: String(i + 1), signature: signContributionFast(warm, 'bench-net', content, BigInt(i + 1)) });
    }
    await new Promise((r) => setTimeout(r, 500));
    ctx.progress(`${layout}: streaming 2 x ${streams[0]!.length} contributions into ${replicas.length} replica(s)`);
    const started = process.hrtime.bigint();
    const results = await Promise.all(streams.map((list, s) => clientStream(clients[s % clients.length], 'submitContributions', list)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const accepted = results.reduce((n, x) => n + x.accepted, 0);
    const expected = streams.reduce((n, list) => n + list.length, 0);
    if (accepted !== expected) throw new Error(`${layout}: expected every contribution accepted, got ${accepted} of ${expected}`);
    let lostRaces = 0;
    for (const port of metrics) lostRaces += sample(await scrape(port), 'opal_event_log_appends_total', { outcome: 'conflict' }) ?? 0;
    ctx.progress(`${layout}: ${expected} in ${seconds.toFixed(2)} s, ${lostRaces} appends lost a race`);
    return { seconds, lostRaces };
  } finally {
    for (const c of clients) c.close();
    for (const r of replicas) await r.stop();
    await cluster.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
