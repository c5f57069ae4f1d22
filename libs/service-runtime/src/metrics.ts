import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status as grpcStatus, type ServerInterceptor } from '@grpc/grpc-js';
import type { EventLog } from '@opal/event-log';
import { MeteredEventLog } from './metered-event-log.js';

export const METRICS = Symbol('ProcessMetrics');

const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LAG_TIMEOUT_MS = 2000;
const codeNames = new Map<number, string>(Object.entries(grpcStatus).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

/** What ProcessMetrics reads of a read model at each scrape. */
export type MeteredProjection = { readonly name: string; lag(): Promise<number | undefined>; readonly running: boolean };

/**
 * The Prometheus metrics of one process (`opal_` names), whatever services it runs: its read
 * models (events applied, batch time, failures, dead letters, lag behind the log), its gRPC server
 * (calls by method and status code, and their duration, named as the usual gRPC exporters name
 * them), its appends to the event log, and Node's own (CPU, memory, event-loop delay; added when
 * served). Served on /metrics by `serveMetrics`; a service with registries of its own adds them with `include`.
 * Labels are bounded: projection, gRPC service and method, code, outcome; never a stream, tenant
 * or contributor.
 */
export class ProcessMetrics {
  readonly registry = new Registry();
  private readonly included: Registry[] = [];
  private readonly projections: MeteredProjection[] = [];
  private readonly applied: Counter<'projection'>;
  private readonly batches: Histogram<'projection'>;
  private readonly failures: Counter<'projection'>;
  private readonly deadLettered: Counter<'projection'>;
  private readonly handled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  private readonly handling: Histogram<'grpc_service' | 'grpc_method'>;
  private readonly appends: Counter<'outcome'>;
  private readonly appendedEvents: Counter;
  private readonly appendTime: Histogram;
  private readonly dropped: Counter<'cache'>;
  private readonly forwarded: Counter<'grpc_method' | 'outcome'>;
  private readonly caches: { readonly name: string; readonly weight: () => number }[] = [];

  constructor() {
    const r = this.registry;
    const projection = ['projection'] as const;
    this.applied = new Counter({ name: 'opal_projection_events_applied_total', help: 'Events this process applied to a read model', labelNames: projection, registers: [r] });
    this.batches = new Histogram({ name: 'opal_projection_batch_seconds', help: 'Time to apply and commit one batch of a read model', labelNames: projection, buckets: seconds, registers: [r] });
    this.failures = new Counter({ name: 'opal_projection_batch_failures_total', help: 'Batches of a read model that failed and were retried', labelNames: projection, registers: [r] });
    this.deadLettered = new Counter({ name: 'opal_projection_dead_lettered_total', help: 'Events set aside in the dead-letter topic after failing every retry', labelNames: projection, registers: [r] });
    const projections = this.projections;
    new Gauge({
      name: 'opal_projection_lag_records',
      help: 'Records durable in the log that the read model (all its processes together) has not applied yet',
      labelNames: projection,
      registers: [r],
      async collect() {
        this.reset();
        // A log that does not answer in time leaves the series out for this scrape: absent, not 0.
        const lags = await Promise.all(projections.map((p) => withTimeout(p.lag(), LAG_TIMEOUT_MS).catch(() => undefined)));
        projections.forEach((p, i) => {
          const lag = lags[i];
          if (lag !== undefined) this.set({ projection: p.name }, lag);
        });
      },
    });
    new Gauge({
      name: 'opal_projection_up',
      help: '1 while the log delivers to the read model, 0 once it stopped for good (the process then exits)',
      labelNames: projection,
      registers: [r],
      collect() {
        for (const p of projections) this.set({ projection: p.name }, p.running ? 1 : 0);
      },
    });
    const call = ['grpc_service', 'grpc_method'] as const;
    this.handled = new Counter({ name: 'opal_grpc_server_handled_total', help: 'gRPC calls completed, by status code', labelNames: [...call, 'grpc_code'], registers: [r] });
    this.handling = new Histogram({ name: 'opal_grpc_server_handling_seconds', help: 'gRPC call duration, until the status is sent', labelNames: call, buckets: seconds, registers: [r] });
    this.appends = new Counter({ name: 'opal_event_log_appends_total', help: 'Appends to the event log: ok, conflict (expected version), error', labelNames: ['outcome'], registers: [r] });
    this.appendedEvents = new Counter({ name: 'opal_event_log_appended_events_total', help: 'Events appended to the event log', registers: [r] });
    this.appendTime = new Histogram({ name: 'opal_event_log_append_seconds', help: 'Time until an append is durable (or refused)', buckets: seconds, registers: [r] });
    this.dropped = new Counter({ name: 'opal_aggregate_cache_dropped_total', help: 'Write models dropped from memory to keep their cache within its budget (loaded again when next used)', labelNames: ['cache'], registers: [r] });
    this.forwarded = new Counter({
      name: 'opal_commands_forwarded_total',
      help: "Commands for a stream another process owns: forwarded to it, or owner_not_connected (no connection to it up, so decided here)",
      labelNames: ['grpc_method', 'outcome'],
      registers: [r],
    });
    const caches = this.caches;
    new Gauge({
      name: 'opal_aggregate_cache_bytes',
      help: 'Memory the write models a cache holds, as their weights estimate it',
      labelNames: ['cache'],
      registers: [r],
      collect() {
        for (const c of caches) this.set({ cache: c.name }, c.weight());
      },
    });
  }

  private nodeMetrics = false;

  /** Adds Node's own metrics (CPU, memory, event-loop delay, GC); once, when the metrics are served. */
  withNodeMetrics(): void {
    if (this.nodeMetrics) return;
    this.nodeMetrics = true;
    collectDefaultMetrics({ register: this.registry, prefix: 'opal_' });
  }

  /** Serves another registry's metrics next to these (names must not clash). */
  include(registry: Registry): void {
    this.included.push(registry);
  }

  /** A read model this process runs: its lag and state are read at each scrape. */
  watchProjection(p: MeteredProjection): void {
    this.projections.push(p);
  }

  /** The gRPC calls running now (GrpcServing.inFlight), read at each scrape: what a stop waits for. */
  watchCallsInFlight(running: () => number): void {
    new Gauge({
      name: 'opal_grpc_server_calls_in_flight',
      help: 'gRPC calls started and not yet answered or cancelled',
      registers: [this.registry],
      collect() {
        this.set(running());
      },
    });
  }

  /**
   * A port's TLS certificate (TlsFiles): when the one in use expires, read at each scrape, and each
   * reload of its files, taken or refused. An alert before expiry catches a renewal that never
   * reached the files, or files this process keeps refusing.
   */
  watchTlsCertificate(port: string, notAfterMs: () => number): void {
    if (!this.tlsReloads) {
      this.tlsReloads = new Counter({ name: 'opal_tls_reloads_total', help: "Changes of a port's or a client's TLS files: reloaded (in use for new connections), or refused (the ones before stay)", labelNames: ['port', 'outcome'], registers: [this.registry] });
      const expiries = this.tlsExpiries;
      new Gauge({
        name: 'opal_tls_certificate_expiry_timestamp_seconds',
        help: "When the certificate in use stops being valid (Unix time, seconds): a server port's own; a client's (kafka, mongodb), or where it shows none, that of its CA bundle's certificate that expires first",
        labelNames: ['port'],
        registers: [this.registry],
        collect() {
          for (const [p, at] of expiries) this.set({ port: p }, Math.floor(at() / 1000));
        },
      });
    }
    this.tlsExpiries.set(port, notAfterMs);
    for (const outcome of ['reloaded', 'refused'] as const) this.tlsReloads.inc({ port, outcome }, 0);
  }

  tlsReloaded(port: string, outcome: 'reloaded' | 'refused'): void {
    this.tlsReloads?.inc({ port, outcome });
  }

  private tlsReloads: Counter<'port' | 'outcome'> | undefined;
  private readonly tlsExpiries = new Map<string, () => number>();

  /** A cache of write models with a memory budget (ingest's Datanets): its weight is read at each scrape. */
  watchAggregateCache(name: string, weight: () => number): void {
    this.caches.push({ name, weight });
    this.dropped.inc({ cache: name }, 0);
  }

  aggregateDropped(cache: string): void {
    this.dropped.inc({ cache });
  }

  /** Commands of a call sent on to their stream's owner (`owner_not_connected`: no connection to it was up, so they were decided here). */
  commandsForwarded(method: string, outcome: 'forwarded' | 'owner_not_connected', commands = 1): void {
    this.forwarded.inc({ grpc_method: method, outcome }, commands);
  }

  projectionCommitted(projection: string, events: number, batchSeconds: number): void {
    if (events > 0) this.applied.inc({ projection }, events);
    this.batches.observe({ projection }, batchSeconds);
  }

  projectionFailed(projection: string): void {
    this.failures.inc({ projection });
  }

  projectionDeadLettered(projection: string): void {
    this.deadLettered.inc({ projection });
  }

  /** The gRPC server interceptor that counts and times every call by its final status. */
  grpcInterceptor(): ServerInterceptor {
    return (method, call) => {
      const started = performance.now();
      const [service = 'unknown', name = 'unknown'] = method.path.replace(/^\//, '').split('/');
      let counted = false;
      const count = (code: number) => {
        if (counted) return;
        counted = true;
        this.handled.inc({ grpc_service: service, grpc_method: name, grpc_code: codeNames.get(code) ?? String(code) });
        this.handling.observe({ grpc_service: service, grpc_method: name }, (performance.now() - started) / 1000);
      };
      // Cancelled before any answer: counted as CANCELLED (an answered call's close also comes as a cancel).
      const listener = new ServerListenerBuilder().withOnCancel(() => count(grpcStatus.CANCELLED)).build();
      const responder = new ResponderBuilder()
        .withStart((next) => next(listener))
        .withSendStatus((status, next) => {
          count(status.code ?? grpcStatus.OK);
          next(status);
        })
        .build();
      return new ServerInterceptingCall(call, responder);
    };
  }

  /**
   * The event log as this process's services use it: every append checked for its stream
   * (assertPlaced), counted and timed; a log that keeps an index of its own (Kafka) also reports
   * its size.
   */
  meteredLog(log: EventLog): EventLog {
    if (hasIndex(log)) this.watchIndex(log);
    if (hasRetention(log)) this.watchRetention(log);
    return new MeteredEventLog(log, (outcome, events, s) => {
      this.appends.inc({ outcome });
      if (outcome === 'ok') this.appendedEvents.inc(events);
      this.appendTime.observe(s);
    });
  }

  private watchIndex(log: IndexedLog): void {
    new Gauge({
      name: 'opal_event_log_index_events',
      help: "Events in this process's index of the log (every partition it appended to or read, from offset zero or from its snapshot when kept)",
      registers: [this.registry],
      collect() {
        this.set(log.indexFootprint().events);
      },
    });
    new Gauge({
      name: 'opal_event_log_index_bytes',
      help: "Bytes of records in this process's index of the log: in memory (bounded by OPAL_KAFKA_INDEX_MEMORY_MB), and in its file",
      labelNames: ['place'],
      registers: [this.registry],
      collect() {
        const f = log.indexFootprint();
        this.set({ place: 'memory' }, f.bytesInMemory);
        this.set({ place: 'file' }, f.bytesInFile);
      },
    });
    new Gauge({
      name: 'opal_event_log_index_restored_events',
      help: "Events this process's index of the log loaded from its snapshot at start (OPAL_KAFKA_INDEX_PERSIST); 0: read from offset zero",
      registers: [this.registry],
      collect() {
        this.set(log.indexFootprint().restoredEvents ?? 0);
      },
    });
  }

  /**
   * Whether the log's topics still keep every event (KafkaEventLog.retentionProblems), asked at a
   * scrape at most once a minute: a topic's settings can be changed under a running process, and its
   * oldest events are then deleted when the new retention runs out. A log that does not answer in
   * time leaves the series out for that scrape.
   */
  private watchRetention(log: RetentionCheckedLog): void {
    let last: { at: number; problems: Promise<number | undefined> } | undefined;
    new Gauge({
      name: 'opal_event_log_retention_problems',
      help: "Settings of the log's topics under which Kafka deletes events, and partitions that lost their first records (0: every event kept)",
      registers: [this.registry],
      async collect() {
        if (!last || performance.now() - last.at > RETENTION_CHECK_MS) {
          last = { at: performance.now(), problems: withTimeout(log.retentionProblems(), LAG_TIMEOUT_MS).then((p) => p.length, () => undefined) };
        }
        const problems = await last.problems;
        this.reset();
        if (problems === undefined) last = undefined;
        else this.set(problems);
      },
    });
  }

  async exposition(): Promise<string> {
    const registry = this.included.length === 0 ? this.registry : Registry.merge([this.registry, ...this.included]);
    return registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}


type IndexedLog = { indexFootprint(): { events: number; bytesInMemory: number; bytesInFile: number; restoredEvents?: number } };
const hasIndex = (log: EventLog): log is EventLog & IndexedLog => typeof (log as Partial<IndexedLog>).indexFootprint === 'function';
type RetentionCheckedLog = { retentionProblems(): Promise<string[]> };
const hasRetention = (log: EventLog): log is EventLog & RetentionCheckedLog => typeof (log as Partial<RetentionCheckedLog>).retentionProblems === 'function';
/** The least time between two checks of the log's topics' retention (watchRetention). */
const RETENTION_CHECK_MS = 60_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Serves `GET /metrics` (Prometheus text format) on host:port; 0 picks a free port. With `serving`,
 * also `GET /livez` (200 while the process runs) and `GET /readyz` (200 while its gRPC health says
 * SERVING; 503 while its read models catch up with the log at start, and once it drains): plain
 * HTTP probes for a gRPC port that speaks TLS, which Kubernetes' gRPC probes cannot. Anything else
 * answers 404. Resolves once listening, with the port and a close function.
 */
export async function serveMetrics(metrics: ProcessMetrics, host: string, port: number, serving?: { readonly notServing: string | undefined }): Promise<{ port: number; close(): Promise<void> }> {
  metrics.withNodeMetrics();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && serving && path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('live\n');
      return;
    }
    if (req.method === 'GET' && serving && path === '/readyz') {
      const why = serving.notServing;
      if (why) res.writeHead(503, { 'content-type': 'text/plain' }).end(`not serving: ${why}\n`);
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('serving\n');
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: GET /metrics${serving ? ', /livez or /readyz' : ''}\n`);
      return;
    }
    metrics.exposition().then(
      (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
