// A stop signal as Kubernetes sends it when a pod goes (a rolling upgrade, a scale-down): health
// turns NOT_SERVING while calls are still served for the drain, the calls running then finish, and
// only a call still running after the grace is cut. Real `opal up` processes, real gRPC clients.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { OpalProcess, call, grpcClient, healthStatus, servingStatus, signContributionFast, wallet, withOutputOnFailure } from '@opal/testkit';
import { sample, scrape } from './scale-out/metrics-scrape.js';

const enc = new TextEncoder();
const INGEST = 'opal.ingest.v1.IngestService';

function submission(datanetId: string, i: number) {
  const w = wallet(40 + (i % 3));
  const content = enc.encode(`graceful item ${i}: ${'words '.repeat(1 + (i % 17))}`);
  return { datanetId, content: Buffer.from(content), contributor: w.address, nonce: String(i + 1), signature: signContributionFast(w, datanetId, content, BigInt(i + 1)) };
}

/** A SubmitContributions client stream left open: write to it, end it, and its answer or error. */
function openStream(client: any): { stream: ClientWritableStream<object>; answer: Promise<{ results: { status: string }[] }> } {
  let stream!: ClientWritableStream<object>;
  const answer = new Promise<{ results: { status: string }[] }>((resolve, reject) => {
    stream = client.submitContributions((err: ServiceError | null, res: { results: { status: string }[] }) => (err ? reject(err) : resolve(res)));
  });
  answer.catch(() => {});
  return { stream, answer };
}

function exitOf(node: OpalProcess): Promise<number | null> {
  return new Promise((resolve) => node.child!.once('exit', (code) => resolve(code)));
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('graceful shutdown', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-graceful-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('drains on SIGTERM: health says NOT_SERVING, calls are still served, a client stream open at the signal completes', async () => {
    const data = join(dir, 'drain');
    const node = new OpalProcess(data, { env: { OPAL_SHUTDOWN_DRAIN_MS: '2500', OPAL_LOG_LEVEL: 'info', OPAL_METRICS_PORT: '0' } });
    await node.start();
    await withOutputOnFailure({ node }, async () => {
      const ingest = grpcClient(node.url, 'ingest');
      await call(ingest, 'createDatanet', { datanetId: 'graceful-net', name: 'Graceful', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      assert.equal(await servingStatus(node.url), 'SERVING');
      assert.equal(await servingStatus(node.url, INGEST), 'SERVING');

      const { stream, answer } = openStream(ingest);
      for (let i = 0; i < 100; i++) stream.write(submission('graceful-net', i));
      const exited = exitOf(node);
      node.child!.kill('SIGTERM');
      // Readiness fails at once, for the server and each service...
      await until('health NOT_SERVING after SIGTERM', async () => (await healthStatus(node.url)) === 'NOT_SERVING');
      assert.equal(await healthStatus(node.url, INGEST), 'NOT_SERVING');
      // ...while a call that still comes is answered, and the stream open at the signal goes on.
      const dn = await call(ingest, 'getDatanet', { datanetId: 'graceful-net' });
      assert.equal(dn.datanetId, 'graceful-net');
      // What the stop waits for: the stream, still running.
      assert.equal(sample(await scrape(node.metricsPort), 'opal_grpc_server_calls_in_flight'), 1);
      for (let i = 100; i < 200; i++) stream.write(submission('graceful-net', i));
      stream.end();
      const res = await answer;
      assert.equal(res.results.length, 200);
      assert.deepEqual([...new Set(res.results.map((r) => r.status))], ['ACCEPTED']);
      assert.equal(await exited, 0);
      assert.match(node.output(), /draining/);
      assert.match(node.output(), /every running call finished/);
      ingest.close();
    });

    // Everything the stream was answered for is there after the restart.
    const again = new OpalProcess(data);
    await again.start();
    await withOutputOnFailure({ again }, async () => {
      const ingest = grpcClient(again.url, 'ingest');
      const dn = await call(ingest, 'getDatanet', { datanetId: 'graceful-net' });
      assert.equal(Number(dn.accepted), 200);
      ingest.close();
    });
    await again.stop();
  });

  it('cuts a call still running when the grace runs out, and stops; what it had accepted stays, once', async () => {
    const data = join(dir, 'grace');
    const node = new OpalProcess(data, { env: { OPAL_SHUTDOWN_DRAIN_MS: '0', OPAL_SHUTDOWN_GRACE_MS: '1500' } });
    await node.start();
    const requests = Array.from({ length: 30 }, (_, i) => submission('grace-net', i));
    await withOutputOnFailure({ node }, async () => {
      const ingest = grpcClient(node.url, 'ingest');
      await call(ingest, 'createDatanet', { datanetId: 'grace-net', name: 'Grace', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      const { stream, answer } = openStream(ingest);
      for (const r of requests) stream.write(r);
      // A client that never ends its stream.
      await new Promise((r) => setTimeout(r, 300));
      const exited = exitOf(node);
      node.child!.kill('SIGTERM');
      const err = (await answer.then(
        () => assert.fail('a stream never ended was answered'),
        (e: ServiceError) => e,
      )) as ServiceError;
      assert.equal(err.code, status.CANCELLED, err.message);
      assert.equal(await exited, 0);
      assert.match(node.output(), /calls still running after OPAL_SHUTDOWN_GRACE_MS were cut/);
      assert.match(node.output(), /"cut":1/);
      ingest.close();
    });

    // The client never heard back: sending the same submissions again completes them exactly once.
    const again = new OpalProcess(data);
    await again.start();
    await withOutputOnFailure({ again }, async () => {
      const ingest = grpcClient(again.url, 'ingest');
      let landed = 0;
      for (const r of requests) {
        await call(ingest, 'submitContribution', r).catch((e: ServiceError) => {
          assert.equal(e.code, status.ALREADY_EXISTS, e.message);
          assert.match(e.details, /for this same content: contribution 0x[0-9a-f]{64} is ACCEPTED$/, 'the retry is told its first try landed');
          landed++;
        });
      }
      // The stream's items are decided as they come: those before the cut had landed.
      assert.ok(landed > 0, 'some items of the cut stream had landed');
      const dn = await call(ingest, 'getDatanet', { datanetId: 'grace-net' });
      assert.equal(Number(dn.accepted), requests.length);
      ingest.close();
    });
    await again.stop();
  });
});
