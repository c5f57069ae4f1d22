import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { ProjectionHost } from '@opal/service-runtime';
import { GovernanceController } from './adapters/grpc/governance.controller.js';
import { parametersProjection } from './projections/parameters.projection.js';

@Module({ controllers: [GovernanceController] })
export class GovernanceModule implements OnModuleInit {
  constructor(@Inject(ProjectionHost) private readonly projections: ProjectionHost) {}

  onModuleInit(): void {
    this.projections.register('governance', parametersProjection);
  }
}
