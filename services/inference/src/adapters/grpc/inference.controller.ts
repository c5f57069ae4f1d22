import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type * as api from '@opal/contracts/opal/inference/v1/inference.api';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import type { ModelDoc } from '../../projections/models.projection.js';

@Controller()
export class InferenceController {
  constructor(@Inject(DOCUMENT_STORE) private readonly store: DocumentStore) {}

  @GrpcMethod('InferenceService', 'ListModels')
  async listModels(r: api.ListModelsRequest): Promise<api.ListModelsResponse> {
    const { items } = await this.store.find('inference_models', {
      where: r.baseModelId ? { parent: r.baseModelId } : {},
      sort: [{ field: 'kind', order: 'desc' }, { field: 'id', order: 'asc' }],
    });
    return { models: items as ModelDoc[] };
  }
}
