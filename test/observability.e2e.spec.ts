// What an operator sees of a process: its Prometheus metrics (`opal up` with OPAL_METRICS_PORT) and
// its traces (OTEL_EXPORTER_OTLP_ENDPOINT), as a real gRPC client calls it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Metadata, status } from '@grpc/grpc-js';
import { OpalProcess, call, grpcClient, wallet } from '@opal/testkit';
import { sample, scrape } from './scale-out/metrics-scrape.js';
import { startOtlpReceiver } from './scale-out/otlp-receiver.js';

describe('process metrics (opal up --metrics-port)', { timeout: 120_000 }, () => {
  let dir: string;
  let node: OpalProcess;
  let ingest: any;
  let admin: any;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-metrics-'));
    // A free port it binds itself (one picked ahead may be taken meanwhile).
    node = new OpalProcess(dir, { env: { OPAL_METRICS_PORT: '0' } });
    await node.start();
    ingest = grpcClient(node.url, 'ingest');
    admin = grpcClient(node.url, 'admin');
  });
  after(async () => {
    ingest?.close();
    admin?.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts gRPC calls by method and status code, appends to the log, and events applied by each read model', async () => {
    const owner = wallet(0).address;
    await call(ingest, 'createDatanet', { datanetId: 'metered', name: 'Metered', dataKind: 'text', license: 'MIT', owner });
    await assert.rejects(call(ingest, 'createDatanet', { name: 'x', dataKind: 'text', license: 'MIT', owner: '0x12' }), (e: any) => e.code === status.INVALID_ARGUMENT);
    await assert.rejects(call(ingest, 'createDatanet', { datanetId: 'metered', name: 'again', dataKind: 'text', license: 'MIT', owner }), (e: any) => e.code === status.ALREADY_EXISTS);
    await call(admin, 'getStateDigest', {}); // waits until every read model has applied the log

    const text = await scrape(node.metricsPort);
    const handled = (code: string) => sample(text, 'opal_grpc_server_handled_total', { grpc_service: 'opal.ingest.v1.IngestService', grpc_method: 'CreateDatanet', grpc_code: code });
    assert.deepEqual([handled('OK'), handled('INVALID_ARGUMENT'), handled('ALREADY_EXISTS')], [1, 1, 1]);
    assert.equal(sample(text, 'opal_grpc_server_handling_seconds_count', { grpc_service: 'opal.ingest.v1.IngestService', grpc_method: 'CreateDatanet' }), 3);
    assert.equal(sample(text, 'opal_event_log_appends_total', { outcome: 'ok' }), 1, 'one append: the Datanet created');
    assert.equal(sample(text, 'opal_event_log_appended_events_total'), 1);
    for (const projection of ['ingest.catalog', 'ingest.contributions']) {
      assert.equal(sample(text, 'opal_projection_events_applied_total', { projection }), 1, projection);
      assert.equal(sample(text, 'opal_projection_lag_records', { projection }), 0, projection);
      assert.equal(sample(text, 'opal_projection_up', { projection }), 1, projection);
    }
    assert.ok((sample(text, 'opal_process_cpu_seconds_total') ?? 0) > 0, "Node's own metrics are there");
  });

  it("serves the same on the inference HTTP port's /metrics, next to the inference metrics", async () => {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.ok(sample(text, 'opal_projection_up', { projection: 'inference.tenants' }) === 1);
    assert.ok(sample(text, 'opal_inference_num_requests_running') === 0);
  });

  it('answers 404 for anything but GET /metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${node.metricsPort}/`);
    assert.equal(res.status, 404);
    assert.match(await res.text(), /GET \/metrics/);
  });
});

describe('process traces on the embedded log (opal up with OTEL_EXPORTER_OTLP_ENDPOINT)', { timeout: 120_000 }, () => {
  let dir: string;
  let node: OpalProcess;
  let collector: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let ingest: any;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-traces-'));
    collector = await startOtlpReceiver();
    node = new OpalProcess(dir, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint } });
    await node.start();
    ingest = grpcClient(node.url, 'ingest');
  });
  after(async () => {
    ingest?.close();
    await node.stop();
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("continues the caller's trace through the call and its append, and the read models that apply the event link to it", async () => {
    const traceId = randomBytes(16).toString('hex');
    const caller = randomBytes(8).toString('hex');
    const metadata = new Metadata();
    metadata.set('traceparent', `00-${traceId}-${caller}-01`);
    await call(ingest, 'createDatanet', { datanetId: 'traced', name: 'Traced', dataKind: 'text', license: 'MIT', owner: wallet(0).address }, metadata);
    const spans = () => collector.spans.filter((x) => x.traceId === traceId);
    const linked = () => collector.spans.filter((x) => x.name.startsWith('projection ingest.') && x.links.some((l) => l.traceId === traceId));
    for (let i = 0; i < 100 && (spans().length < 2 || linked().length < 2); i++) await new Promise((r) => setTimeout(r, 100));
    const rpc = spans().find((x) => x.name === 'opal.ingest.v1.IngestService/CreateDatanet');
    const append = spans().find((x) => x.name === 'event-log append');
    assert.equal(rpc?.parentSpanId, caller);
    assert.equal(rpc?.service, 'opal');
    assert.equal(rpc?.attributes['rpc.grpc.status_code'], 0);
    assert.equal(append?.parentSpanId, rpc.spanId);
    assert.equal(append?.attributes['opal.stream_id'], 'datanet-traced');
    assert.deepEqual(linked().map((x) => x.name).sort(), ['projection ingest.catalog', 'projection ingest.contributions']);
    for (const x of linked()) assert.ok(x.links.some((l) => l.spanId === append.spanId), `${x.name} links to the append`);
  });
});
