import type { Type } from '@nestjs/common';
import type { DomainEvent, Projection } from '@opal/event-sourcing';
import type { GrpcServiceKey } from '@opal/service-runtime';
import { IngestModule, ingestProjections, ingestStreamPrefixes } from '@opal/ingest';
import { InferenceModule, inferenceProjections, inferenceStreamPrefixes } from '@opal/inference';
import { AttributionModule, attributionProjections, attributionStreamPrefixes } from '@opal/attribution';
import { SettlementModule, balancesProjection, epochsProjection } from '@opal/settlement';
import { GovernanceModule, parametersProjection } from '@opal/governance';
import type { ServiceName } from '@opal/contracts';

/**
 * Every service: its Nest module, its gRPC API, the read models it owns, and the prefixes of the
 * stream ids it writes (on Kafka, its streams live in a topic of its own).
 */
export const services: Record<
  ServiceName,
  { module: Type<unknown>; grpc: GrpcServiceKey; projections: readonly Projection<DomainEvent>[]; streamPrefixes: readonly string[] }
> = {
  ingest: { module: IngestModule, grpc: 'ingest', projections: ingestProjections as unknown as Projection<DomainEvent>[], streamPrefixes: ingestStreamPrefixes },
  inference: { module: InferenceModule, grpc: 'inference', projections: inferenceProjections, streamPrefixes: inferenceStreamPrefixes },
  attribution: {
    module: AttributionModule,
    grpc: 'attribution',
    projections: attributionProjections as unknown as Projection<DomainEvent>[],
    streamPrefixes: attributionStreamPrefixes,
  },
  settlement: {
    module: SettlementModule,
    grpc: 'settlement',
    projections: [balancesProjection, epochsProjection] as unknown as Projection<DomainEvent>[],
    streamPrefixes: [],
  },
  governance: { module: GovernanceModule, grpc: 'governance', projections: [parametersProjection as unknown as Projection<DomainEvent>], streamPrefixes: [] },
};
