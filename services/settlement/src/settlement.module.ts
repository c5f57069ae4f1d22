import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { ProjectionHost } from '@opal/service-runtime';
import { SettlementController } from './adapters/grpc/settlement.controller.js';
import { balancesProjection } from './projections/balances.projection.js';
import { epochsProjection } from './projections/epochs.projection.js';

@Module({ controllers: [SettlementController] })
export class SettlementModule implements OnModuleInit {
  constructor(@Inject(ProjectionHost) private readonly projections: ProjectionHost) {}

  onModuleInit(): void {
    this.projections.register('settlement', balancesProjection);
    this.projections.register('settlement', epochsProjection);
  }
}
