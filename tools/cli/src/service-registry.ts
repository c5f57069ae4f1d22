import type { INestApplicationContext, Type } from '@nestjs/common';
import type { DomainEvent, Projection } from '@opal/event-sourcing';
import type { GrpcServiceKey } from '@opal/service-runtime';
import { IngestModule, ingestProjections } from '@opal/ingest';
import { InferenceModule, inferenceProjections } from '@opal/inference';
import { AttributionModule, attributionProjections } from '@opal/attribution';
import { SettlementModule, balancesProjection, epochsProjection } from '@opal/settlement';
import { GovernanceModule, parametersProjection } from '@opal/governance';
import { serviceStreams, type ServiceName } from '@opal/contracts';

/**
 * Every service: its Nest module, its gRPC API, the read models it owns, the prefixes of the stream
 * ids it writes (serviceStreams; on Kafka, its streams live in a topic of its own), and whether its
 * processes send each command to the one that owns its stream (OPAL_ADVERTISE_HOST).
 */
export const services: Record<
  ServiceName,
  {
    module: Type<unknown>;
    grpc: GrpcServiceKey;
    projections: readonly Projection<DomainEvent>[];
    streamPrefixes: readonly string[];
    routesCommands?: boolean;
    /** Methods only admin calls may make (AdminAuth): they move money or read the server's files. */
    adminMethods?: readonly string[];
    /** Where its HTTP API listens once the application has started, if it serves one. */
    httpUrl?: (app: INestApplicationContext) => string | undefined;
  }
> = {
  ingest: { module: IngestModule, grpc: 'ingest', projections: ingestProjections as unknown as Projection<DomainEvent>[], streamPrefixes: serviceStreams.ingest, routesCommands: true },
  inference: {
    module: InferenceModule,
    grpc: 'inference',
    projections: inferenceProjections,
    streamPrefixes: serviceStreams.inference,
    adminMethods: ['RegisterBaseModel', 'RegisterAdapter', 'CreateTenant', 'CreditTenant'],
    httpUrl: (app) => app.get(InferenceModule).httpUrl,
  },
  attribution: {
    module: AttributionModule,
    grpc: 'attribution',
    projections: attributionProjections as unknown as Projection<DomainEvent>[],
    streamPrefixes: serviceStreams.attribution,
  },
  settlement: {
    module: SettlementModule,
    grpc: 'settlement',
    projections: [balancesProjection, epochsProjection] as unknown as Projection<DomainEvent>[],
    streamPrefixes: serviceStreams.settlement,
  },
  governance: {
    module: GovernanceModule,
    grpc: 'governance',
    projections: [parametersProjection as unknown as Projection<DomainEvent>],
    streamPrefixes: serviceStreams.governance,
  },
};
