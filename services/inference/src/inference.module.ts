import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { ProjectionHost } from '@opal/service-runtime';
import { InferenceController } from './adapters/grpc/inference.controller.js';
import { modelsProjection } from './projections/models.projection.js';

@Module({ controllers: [InferenceController] })
export class InferenceModule implements OnModuleInit {
  constructor(@Inject(ProjectionHost) private readonly projections: ProjectionHost) {}

  onModuleInit(): void {
    this.projections.register('inference', modelsProjection);
  }
}
