import { CONTENT_STORE, type ContentStore } from '@opal/content-store';
import { Inject, Module, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { LOGGER, METRICS, OPAL_CONFIG, ProcessMetrics, ProjectionHost, TlsFiles, watchTls, type OpalConfig } from '@opal/service-runtime';
import { InferenceController } from './adapters/grpc/inference.controller.js';
import { EngineRouter } from './adapters/engines/engine-router.js';
import { DatanetIndexProvider } from './adapters/index/datanet-index.provider.js';
import { PrometheusInferenceMetrics } from './adapters/metrics/prometheus.metrics.js';
import { sha256KeyHasher } from './adapters/crypto/sha256-key.hasher.js';
import { OpenAiHttpServer } from './adapters/http/openai-http.server.js';
import { GenerateHandler } from './application/generate.handler.js';
import { ModelCatalog } from './application/model-catalog.js';
import { RegisterModelHandler } from './application/register-model.handler.js';
import { RegistryRepository } from './application/registry.repository.js';
import { BalanceHolds } from './application/balance-holds.js';
import { HoldSweeper } from './application/hold-sweeper.js';
import { TenantLedger } from './application/tenant-ledger.js';
import { TenantRepository, TenantsHandler } from './application/tenants.handler.js';
import { INFERENCE_METRICS, KEY_HASHER, PUBLISHED_VERSIONS, SERVING_ENGINES, type PublishedVersions, type ServingEngines } from './application/inference.ports.js';
import { INFERENCE_CONFIG, loadInferenceConfig, type InferenceConfig } from './inference.config.js';
import { inferenceProjections } from './projections/index.js';
import { publishedVersion } from './projections/datanet-versions.projection.js';

@Module({
  controllers: [InferenceController],
  providers: [
    RegistryRepository,
    TenantRepository,
    ModelCatalog,
    TenantLedger,
    BalanceHolds,
    HoldSweeper,
    RegisterModelHandler,
    TenantsHandler,
    GenerateHandler,
    { provide: INFERENCE_CONFIG, useFactory: () => loadInferenceConfig() },
    { provide: KEY_HASHER, useValue: sha256KeyHasher },
    {
      provide: SERVING_ENGINES,
      inject: [INFERENCE_CONFIG, OPAL_CONFIG, DOCUMENT_STORE, CONTENT_STORE, ProjectionHost],
      useFactory: (c: InferenceConfig, opal: OpalConfig, store: DocumentStore, content: ContentStore, projections: ProjectionHost) => {
        const indexes = new DatanetIndexProvider(opal.dataDir, store, content, async () => void (await projections.caughtUpWithin('inference')));
        return new EngineRouter(c, opal.dataDir, (dv) => indexes.get(dv));
      },
    },
    {
      provide: PUBLISHED_VERSIONS,
      inject: [DOCUMENT_STORE, ProjectionHost],
      // Published a moment ago, perhaps: asked again once the read models have caught up (UNAVAILABLE
      // when they cannot be seen to).
      useFactory: (store: DocumentStore, projections: ProjectionHost): PublishedVersions => ({
        has: async (dv) => (await projections.readCaughtUp('inference', () => publishedVersion(store, dv))) !== undefined,
      }),
    },
    { provide: INFERENCE_METRICS, inject: [SERVING_ENGINES], useFactory: (e: ServingEngines) => new PrometheusInferenceMetrics(() => e.stats()) },
  ],
})
export class InferenceModule implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private http: OpenAiHttpServer | undefined;
  private httpTls: TlsFiles | undefined;
  /** Where the OpenAI-compatible API listens once started (OPAL_HTTP_PORT=0 takes a free port); undefined with HTTP off. */
  httpUrl: string | undefined;

  constructor(
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
    @Inject(INFERENCE_CONFIG) private readonly config: InferenceConfig,
    @Inject(OPAL_CONFIG) private readonly opal: OpalConfig,
    @Inject(SERVING_ENGINES) private readonly engines: ServingEngines,
    @Inject(INFERENCE_METRICS) private readonly metrics: PrometheusInferenceMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) private readonly processMetrics: ProcessMetrics,
    private readonly generation: GenerateHandler,
    private readonly catalog: ModelCatalog,
    private readonly ledger: TenantLedger,
    private readonly sweeper: HoldSweeper,
  ) {}

  onModuleInit(): void {
    for (const p of inferenceProjections) this.projections.register('inference', p);
    this.processMetrics.include(this.metrics.registry);
  }

  async onApplicationBootstrap(): Promise<void> {
    // Holds whose replica crashed are settled within a minute of their expiry (or at the tenant's next request).
    this.sweeper.start(Math.min(60_000, this.config.holdMs / 4));
    if (this.config.httpPort < 0) return;
    // The process's metrics (read models, gRPC, appends) next to the inference ones.
    const all = this.processMetrics;
    this.http = new OpenAiHttpServer({
      generation: this.generation,
      catalog: this.catalog,
      ledger: this.ledger,
      logger: this.logger,
      metrics: async () => ({ contentType: all.contentType, body: await all.exposition() }),
      readModelsCaughtUp: () => this.projections.caughtUpWithin('inference'),
    });
    const tls = this.config.httpTls && new TlsFiles('http', this.config.httpTls.paths, this.config.httpTls);
    const port = await this.http.listen(this.config.httpHost, this.config.httpPort, tls);
    this.httpUrl = `${tls ? 'https' : 'http'}://${this.config.httpHost.includes(':') ? `[${this.config.httpHost}]` : this.config.httpHost}:${port}`;
    if (tls) {
      watchTls(tls, this.opal.tlsReloadMs, this.logger, this.processMetrics);
      this.httpTls = tls;
    }
    this.logger.info({ url: `${this.config.httpTls ? 'https' : 'http'}://${this.config.httpHost}:${port}` }, 'inference HTTP (OpenAI-compatible, /metrics) listening');
  }

  /** Before any module stops (read models, engines): the requests running may need them. */
  async beforeApplicationShutdown(): Promise<void> {
    this.httpTls?.stop();
    if (this.http && !(await this.http.close(this.opal.shutdownGraceMs))) {
      this.logger.warn({ graceMs: this.opal.shutdownGraceMs }, 'inference HTTP stopped: requests still running after OPAL_SHUTDOWN_GRACE_MS were cut');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sweeper.stop();
    await this.engines.close();
  }
}
