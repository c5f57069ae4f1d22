import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { ProjectionHost } from '@opal/service-runtime';
import { AttributionController } from './adapters/grpc/attribution.controller.js';
import { receiptsProjection } from './projections/receipts.projection.js';

@Module({ controllers: [AttributionController] })
export class AttributionModule implements OnModuleInit {
  constructor(@Inject(ProjectionHost) private readonly projections: ProjectionHost) {}

  onModuleInit(): void {
    this.projections.register('attribution', receiptsProjection);
  }
}
