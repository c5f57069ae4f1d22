import type { Type } from '@nestjs/common';
import type { DomainEvent, Projection } from '@opal/event-sourcing';
import type { GrpcServiceKey } from '@opal/service-runtime';
import { IngestModule, ingestProjections } from '@opal/ingest';
import { InferenceModule, inferenceProjections } from '@opal/inference';
import { AttributionModule, attributionProjections } from '@opal/attribution';
import { SettlementModule, balancesProjection, epochsProjection } from '@opal/settlement';
import { GovernanceModule, parametersProjection } from '@opal/governance';
import type { ServiceName } from '@opal/contracts';

/** Every service: its Nest module, its gRPC API, and the read models it owns. */
export const services: Record<ServiceName, { module: Type<unknown>; grpc: GrpcServiceKey; projections: readonly Projection<DomainEvent>[] }> = {
  ingest: { module: IngestModule, grpc: 'ingest', projections: ingestProjections as unknown as Projection<DomainEvent>[] },
  inference: { module: InferenceModule, grpc: 'inference', projections: inferenceProjections },
  attribution: { module: AttributionModule, grpc: 'attribution', projections: attributionProjections as unknown as Projection<DomainEvent>[] },
  settlement: {
    module: SettlementModule,
    grpc: 'settlement',
    projections: [balancesProjection, epochsProjection] as unknown as Projection<DomainEvent>[],
  },
  governance: { module: GovernanceModule, grpc: 'governance', projections: [parametersProjection as unknown as Projection<DomainEvent>] },
};
