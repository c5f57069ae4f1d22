import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpalProcess, call, clientStream, grpcClient, rng, signContributionFast, text, vocabulary, wallet } from '@opal/testkit';
import type { BenchSuite } from './harness.js';
import { scaledOutCluster } from './kafka-bench.js';

/**
 * Signed 1 KB contributions through gRPC client streaming into `opal up` (a separate process,
 * embedded log with fsync, near-duplicate detection on), measured from the first message sent to
 * the batch's response. Requests are signed before the clock starts.
 *   --items N (default 5000)   --streams K concurrent streams (default 1)   --bytes B (default 1024)
 *   --templated   every text is the same template (about half its words, as records that share their
 *                 keys and boilerplate do) and words of its own: about 53% alike two by two, below
 *                 the near-duplicate threshold, so all are accepted, and the LSH buckets of the
 *                 bands the template decides hold the whole Datanet
 *   --profile DIR writes a CPU profile of the server there
 *   --scale-out   `opal up` on the local Kafka broker and MongoDB-wire server (topics and database of
 *                 its own, removed after) instead of the embedded log: each contribution is an append
 *                 to the Kafka topic that every service's subscriptions then follow
 */
export const run: BenchSuite = async (ctx) => {
  const items = Number(ctx.options['items'] ?? 5000);
  const streams = Number(ctx.options['streams'] ?? 1);
  const bytes = Number(ctx.options['bytes'] ?? 1024);
  const scaleOut = ctx.options['scale-out'] !== undefined;
  const templated = ctx.options['templated'] !== undefined;
  const dir = mkdtempSync(join(tmpdir(), 'opal-bench-ingest-'));
  const profile = typeof ctx.options['profile'] === 'string' ? ['--cpu-prof', `--cpu-prof-dir=${ctx.options['profile']}`] : [];
  const cluster = scaleOut ? await scaledOutCluster('ingest') : undefined;
  if (scaleOut && !cluster) return ctx.progress('scale-out: no local Kafka or MongoDB-wire server here');
  const node = new OpalProcess(dir, { nodeArgs: profile, env: cluster?.env });
  const mode: Record<string, string | boolean> = cluster ? { event_log: 'kafka', store: 'mongodb' } : { event_log: 'embedded', fsync: true };
  try {
    await node.start();
    const ingest = grpcClient(node.url, 'ingest');
    const datanetId = 'bench-net';
    await call(ingest, 'createDatanet', { datanetId, name: 'Bench', dataKind: 'text', license: 'CC0-1.0', owner: wallet(0).address, policy: { maxItemBytes: 4 * bytes } });
    ctx.progress(`signing ${items} contributions of ${bytes} bytes`);
    const r = rng(1234);
    const vocab = vocabulary(4000);
    const template = text(rng(99), vocab, bytes / 2);
    const contributors = Array.from({ length: 16 }, (_, i) => wallet(1000 + i));
    const requests = Array.from({ length: items }, (_, i) => {
      const w = contributors[i % contributors.length]!;
      const content = new TextEncoder().encode(templated ? `${template} ${text(r, vocab, bytes / 2)}` : text(r, vocab, bytes));
      const nonce = BigInt(i + 1);
      return { datanetId, content: Buffer.from(content), contributor: w.address, nonce: nonce.toString(), signature: signContributionFast(w, datanetId, content, nonce) };
    });
    // Warm up the connection and the server's code paths on a separate Datanet.
    await call(ingest, 'createDatanet', { datanetId: 'warmup', name: 'Warmup', dataKind: 'text', license: 'CC0-1.0', owner: wallet(0).address });
    ctx.progress(`streaming ${items} contributions over ${streams} stream(s)`);
    const per = Math.ceil(items / streams);
    const started = process.hrtime.bigint();
    const results = await Promise.all(
      Array.from({ length: streams }, (_, s) => clientStream(ingest, 'submitContributions', requests.slice(s * per, (s + 1) * per))),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const accepted = results.reduce((n, x) => n + x.accepted, 0);
    if (accepted !== items) throw new Error(`expected every contribution accepted, got ${accepted} of ${items}`);
    ingest.close();
    ctx.report({ metric: 'contributions_per_s', value: Math.round(items / seconds), unit: 'contributions/s', params: { items, bytes, streams, near_duplicate_detection: true, templated, ...mode } });
    ctx.report({ metric: 'batch_seconds', value: Number(seconds.toFixed(3)), unit: 's', params: { items, bytes, streams, templated, ...mode } });
  } finally {
    await node.stop();
    await cluster?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
};
