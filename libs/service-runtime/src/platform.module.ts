import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { DOCUMENT_STORE, MemorySnapshotStore, SNAPSHOT_STORE, type DocumentStore, type SnapshotStore } from '@opal/event-sourcing';
import { CONTENT_STORE, type ContentStore } from '@opal/content-store';
import { OPAL_CONFIG, type OpalConfig } from './config.js';
import { LOGGER } from './logger.js';
import { ProjectionHost } from './projection-host.js';
import { METRICS, ProcessMetrics } from './metrics.js';
import { COMMAND_ROUTING, CommandRouting } from './command-routing.js';
import { ADMIN_AUTH, AdminAuth } from './admin-auth.js';
import { GRPC_TLS_FILES, TlsFiles } from './tls-files.js';

export type Clock = { now(): number };
export const CLOCK = Symbol('Clock');
export const systemClock: Clock = { now: () => Date.now() };

export type PlatformResources = {
  readonly config: OpalConfig;
  readonly logger: Logger;
  readonly eventLog: EventLog;
  readonly store: DocumentStore;
  readonly content: ContentStore;
  /** Aggregate snapshots (kept in memory, for this process alone, when absent). */
  readonly snapshots?: SnapshotStore;
  readonly clock?: Clock;
  /** The process's metrics (a fresh set when absent); its appends are counted only if eventLog is its meteredLog. */
  readonly metrics?: ProcessMetrics;
  /** Where commands on a stream are decided (each where it arrives when absent). */
  readonly routing?: CommandRouting;
  /** Who may make admin calls (from the config's admin token and gRPC host when absent). */
  readonly adminAuth?: AdminAuth;
  /** The gRPC port's TLS files, as the server reads them (from the config's grpcTls, read once, when absent). */
  readonly grpcTls?: TlsFiles;
};

/** The technology every service shares, chosen once by whoever starts the process. */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(r: PlatformResources): DynamicModule {
    return {
      module: PlatformModule,
      providers: [
        { provide: OPAL_CONFIG, useValue: r.config },
        { provide: LOGGER, useValue: r.logger },
        { provide: EVENT_LOG, useValue: r.eventLog },
        { provide: DOCUMENT_STORE, useValue: r.store },
        { provide: CONTENT_STORE, useValue: r.content },
        { provide: SNAPSHOT_STORE, useValue: r.snapshots ?? new MemorySnapshotStore() },
        { provide: CLOCK, useValue: r.clock ?? systemClock },
        { provide: METRICS, useValue: r.metrics ?? new ProcessMetrics() },
        { provide: COMMAND_ROUTING, useValue: r.routing ?? new CommandRouting() },
        { provide: ADMIN_AUTH, useValue: r.adminAuth ?? new AdminAuth(r.config.adminTokens, r.config.grpcHost) },
        { provide: GRPC_TLS_FILES, useValue: r.grpcTls ?? (r.config.grpcTls ? new TlsFiles('grpc', r.config.grpcTls.paths, r.config.grpcTls) : null) },
        ProjectionHost,
      ],
      exports: [OPAL_CONFIG, LOGGER, EVENT_LOG, DOCUMENT_STORE, CONTENT_STORE, SNAPSHOT_STORE, CLOCK, METRICS, COMMAND_ROUTING, ADMIN_AUTH, GRPC_TLS_FILES, ProjectionHost],
    };
  }
}
