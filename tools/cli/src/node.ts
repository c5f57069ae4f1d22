import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestMicroservice } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { EmbeddedEventLog, type EventLog } from '@opal/event-log';
import { MemoryDocumentStore, type DocumentStore, type SnapshotStore } from '@opal/event-sourcing';
import { PackContentStore } from '@opal/content-store';
import { AdminModule, CommandRouting, ConfigError, createLogger, grpcServerOptions, grpcTracingInterceptor, NestPinoLogger, PlatformModule, ProcessMetrics, ProjectionHost, ReadConsistencyGate, AdminAuth, serveMetrics, TlsFiles, kafkaTlsFiles, watchTls, startTracing, withoutPassword, type Clock, type OpalConfig } from '@opal/service-runtime';
import { serviceNames, serviceProtos, type ServiceName } from '@opal/contracts';
import { services } from './service-registry.js';
import { takeDataLock } from './data-lock.js';
import { aggregateSnapshots, isKafka, isMongo, kafkaDomainsOf, openBackends, routedDomainsOf, storeTlsFiles, type Backends } from './backends.js';
import { KafkaEventLog, type StreamOwners } from '@opal/event-log-kafka';
import type { Logger } from 'pino';

@Module({})
class OpalNodeModule {
  static for(names: readonly ServiceName[], resources: Parameters<typeof PlatformModule.forRoot>[0]): DynamicModule {
    return {
      module: OpalNodeModule,
      imports: [PlatformModule.forRoot(resources), AdminModule, ...names.map((n) => services[n].module)],
    };
  }
}

export type RunningNode = {
  readonly url: string;
  /** Where the process serves its Prometheus metrics (OPAL_METRICS_PORT), if it does. */
  readonly metricsUrl: string | undefined;
  /** Where inference's OpenAI-compatible HTTP API listens, when this process runs it. */
  readonly httpUrl: string | undefined;
  readonly eventLog: EventLog;
  readonly store: DocumentStore;
  /** Settles when a read model stopped for good (see ProjectionHost.failed). */
  readonly failed: Promise<{ projection: string; error: unknown }>;
  /**
   * Stops: health says NOT_SERVING, calls are still served for config.shutdownDrainMs (unless
   * `drain` is false), then no new call is taken and those running get config.shutdownGraceMs to
   * finish before the rest closes.
   */
  close(options?: { readonly drain?: boolean }): Promise<void>;
};

export async function openEmbedded(config: OpalConfig): Promise<{ eventLog: EmbeddedEventLog; store: MemoryDocumentStore; content: PackContentStore; snapshots: SnapshotStore }> {
  const eventLog = await EmbeddedEventLog.open(join(config.dataDir, 'log'), { fsync: config.fsync });
  const store = new MemoryDocumentStore({ dir: join(config.dataDir, 'state'), snapshotEvery: config.snapshotEvery });
  const content = await PackContentStore.open(join(config.dataDir, 'content'), config.fsync);
  return { eventLog, store, content, snapshots: aggregateSnapshots(config) };
}

/**
 * Starts the given services in this process, on one gRPC port: on the embedded log and store (the
 * default), or scaled out on Kafka and MongoDB, where any number of processes may run a service.
 */
export async function startNode(config: OpalConfig, names: readonly ServiceName[], clock?: Clock): Promise<RunningNode> {
  const logger = createLogger(config.logLevel, names.length === 1 ? names[0]! : 'opal');
  if (isKafka(config) && !isMongo(config) && names.length < serviceNames.length) {
    // The other services run in other processes, which could not read what this one keeps.
    throw new ConfigError(
      `invalid configuration:\n  OPAL_STORE: ${names.join(', ')} alone on Kafka needs the MongoDB store (mongodb://host:port/db); with 'memory' each process keeps contributions' content and its read models in its own data folder, where the other services' processes cannot read them (one process of every service, opal up, may run on 'memory')`,
    );
  }
  const embedded = config.eventLog === 'embedded' && config.store === 'memory';
  // Port 0 asks for any free port: one is taken right before the server binds it (below).
  let port = config.grpcPort;
  let url = hostPort(config.grpcHost, port);
  let release = () => {};
  let backends: Backends;
  // Kafka's TLS files, read again while the process runs: the client's next connection uses them.
  const kafkaTls = isKafka(config) && config.kafkaTls ? kafkaTlsFiles(config.kafkaTls) : undefined;
  // MongoDB's too: each new connection of its client uses what they hold then.
  const storeTls = storeTlsFiles(config);
  if (embedded) {
    mkdirSync(config.dataDir, { recursive: true });
    release = takeDataLock(config.dataDir);
    const e = await openEmbedded(config);
    backends = { ...e, usesDataDir: true, close: async () => {} };
  } else {
    backends = await openBackends(config, logger, kafkaTls, storeTls);
    if (backends.usesDataDir) {
      mkdirSync(config.dataDir, { recursive: true });
      release = takeDataLock(config.dataDir);
    }
  }
  const { eventLog, store, content, snapshots } = backends;
  const metrics = new ProcessMetrics();
  const tracing = startTracing(config.otlpEndpoint, config.serviceName ?? (names.length === 1 ? `opal-${names[0]}` : 'opal'));
  const routing = new CommandRouting();
  let owners: StreamOwners | undefined;
  let app: INestMicroservice | undefined;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  // Innermost last: a call that waits for its read models (opal-consistency) is timed and traced
  // waiting; an admin call without its token is refused before it waits.
  const reads = new ReadConsistencyGate();
  const grpcTls = config.grpcTls && new TlsFiles('grpc', config.grpcTls.paths, config.grpcTls);
  const adminAuth = new AdminAuth(config.adminTokens, config.grpcHost);
  const adminPaths = new Set(names.flatMap((n) => (services[n].adminMethods ?? []).map((m) => `/${serviceProtos[services[n].grpc].pkg}.${serviceProtos[services[n].grpc].service}/${m}`)));
  const grpc = grpcServerOptions(url, [...names.map((n) => services[n].grpc), 'admin'], [
    metrics.grpcInterceptor(),
    ...(config.otlpEndpoint ? [grpcTracingInterceptor()] : []),
    adminAuth.interceptor(adminPaths),
    reads.interceptor(),
  ], grpcTls);
  metrics.watchCallsInFlight(() => grpc.serving.inFlight);
  if (adminPaths.size > 0 && !adminAuth.open && !config.adminTokens) logger.warn({ grpcHost: config.grpcHost }, 'admin calls are off: this server listens beyond loopback and OPAL_ADMIN_TOKEN is not set');
  try {
    if (eventLog instanceof KafkaEventLog) await warmIndex(eventLog, kafkaDomainsOf(config, names), logger);
    if (port === 0) {
      // The server does not say which port it bound, so one free now is taken, as late as can be:
      // the address logged and advertised is then the one served, and another socket has the
      // least time to take it meanwhile.
      port = await freePortOn(config.grpcHost);
      url = hostPort(config.grpcHost, port);
      grpc.options.options!.url = url;
    }
    app = await NestFactory.createMicroservice(OpalNodeModule.for(names, { config, logger, eventLog: metrics.meteredLog(eventLog), store, content, snapshots, clock, metrics, routing, adminAuth, grpcTls }), {
      ...grpc.options,
      logger: new NestPinoLogger(logger),
    });
    const projections = app.get(ProjectionHost);
    reads.bind(projections);
    // Ready (health SERVING, /readyz 200) once the read models have applied the log as it is now:
    // a process whose read models are built from offset zero (a new projection version rolling out,
    // a new database) gets no traffic meanwhile, and the processes already running serve it.
    const started = Date.now();
    grpc.serving.holdUntil(
      projections.started.then(() => projections.caughtUp()).then(() => logger.info({ ms: Date.now() - started }, 'read models caught up with the log: ready')),
    );
    await app.listen();
    if (grpcTls) watchTls(grpcTls, config.tlsReloadMs, logger, metrics);
    if (kafkaTls) watchTls(kafkaTls, config.tlsReloadMs, logger, metrics);
    if (storeTls) watchTls(storeTls, config.tlsReloadMs, logger, metrics);
    owners = await routeCommands(config, names, eventLog, port, routing, logger);
    if (config.metricsPort >= 0) metricsServer = await serveMetrics(metrics, config.grpcHost, config.metricsPort, grpc.serving);
  } catch (error) {
    grpcTls?.stop();
    kafkaTls?.stop();
    storeTls?.stop();
    await owners?.leave().catch(() => {});
    await app?.close().catch(() => {});
    if (embedded) {
      await eventLog.close();
      await content.close();
    } else await backends.close();
    release();
    throw error;
  }
  const metricsUrl = metricsServer && `http://${hostPort(config.grpcHost, metricsServer.port)}/metrics`;
  logger.info({ url, metrics: metricsUrl, services: names, eventLog: config.eventLog, store: withoutPassword(config.store) }, 'opal node listening');
  let closed = false;
  const running = app;
  const httpUrl = names.map((n) => services[n].httpUrl?.(running)).find((u) => u !== undefined);
  return {
    url,
    metricsUrl,
    httpUrl,
    eventLog,
    store,
    failed: running.get(ProjectionHost).failed,
    async close(options = {}) {
      if (closed) return;
      closed = true;
      const { serving } = grpc;
      serving.drain();
      // The others take this process's streams first. It still decides what reaches it meanwhile
      // (they forward here until they hear it left, clients until the drain is over), and the
      // calls already here finish.
      routing.stop();
      await owners?.leave().catch((error: unknown) => logger.warn({ err: error }, 'leaving the command owners group failed'));
      if (options.drain !== false && config.shutdownDrainMs > 0) {
        logger.info({ ms: config.shutdownDrainMs, inFlight: serving.inFlight }, 'draining: health says NOT_SERVING, calls still served');
        await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
      }
      const stopped = await serving.stop(config.shutdownGraceMs);
      if (stopped.finished) logger.info({ ms: stopped.ms }, 'gRPC server stopped: every running call finished');
      else logger.warn({ cut: stopped.cut, graceMs: config.shutdownGraceMs }, 'gRPC server stopped: calls still running after OPAL_SHUTDOWN_GRACE_MS were cut');
      grpcTls?.stop();
      kafkaTls?.stop();
      storeTls?.stop();
      await metricsServer?.close();
      await running.close();
      await tracing.flush().catch(() => {}); // a collector away loses these spans, not the shutdown
      if (embedded) {
        await store.close();
        await content.close();
        await eventLog.close();
      } else await backends.close();
      release();
      logger.info('opal node stopped');
    },
  };
}

/**
 * Reads the topics this process appends to into the Kafka index before it listens: on a long log
 * that takes a while (150,000–400,000 events/s here), and a process that took commands meanwhile
 * would keep them waiting. Kubernetes holds traffic until the port answers (the chart's
 * startupProbe allows for it).
 */
async function warmIndex(log: KafkaEventLog, domains: readonly string[], logger: Logger): Promise<void> {
  if (domains.length === 0) return;
  const started = performance.now();
  await log.warm(domains);
  logger.info({ domains, ms: Math.round(performance.now() - started), ...log.indexFootprint() }, 'kafka index ready');
}

/**
 * Scaled out with an advertised host (OPAL_ADVERTISE_HOST): joins the processes that take commands on
 * the same streams, so that each command goes to the one owning its stream's partition. Joined only
 * once this process listens, as the others forward to it from then on.
 */
async function routeCommands(config: OpalConfig, names: readonly ServiceName[], log: EventLog, port: number, routing: CommandRouting, logger: Logger): Promise<StreamOwners | undefined> {
  const domains = routedDomainsOf(config, names);
  if (!config.advertiseHost || domains.length === 0) return undefined;
  if (!(log instanceof KafkaEventLog)) {
    logger.warn({ advertiseHost: config.advertiseHost }, 'OPAL_ADVERTISE_HOST is for processes on Kafka; with the embedded log every command is decided here');
    return undefined;
  }
  const self = hostPort(config.advertiseHost, port);
  const joined = await log.joinOwners(domains, self, (table) => {
    routing.peersChanged([...new Set(table.values())].filter((a) => a !== self));
    const mine = [...table.values()].filter((a) => a === self).length;
    logger.info({ address: self, partitions: table.size, owned: mine, owners: [...new Set(table.values())].sort() }, 'command owners changed');
  });
  routing.start(self, joined.owner);
  return joined.owners;
}

/** `host:port`, an IPv6 address in brackets. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** A port the system deems free on `host` now (it binds port 0, reads the port, and lets go). */
function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
