import { Inject, Injectable } from '@nestjs/common';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { ProjectionHost } from '@opal/service-runtime';
import { INFINI_GRAM_BASE } from '../domain/inference.events.js';
import { InferenceServiceError } from '../domain/inference.errors.js';
import type { ModelDoc } from '../projections/models.projection.js';
import type { ServingTarget } from './inference.ports.js';

/** The built-in base: always present, never registered (no file, no event). */
export const infiniGramBase: ModelDoc = {
  id: INFINI_GRAM_BASE, kind: 'base', parent: '', owner: '', datanetVersions: [], engine: 'infini-gram', uri: 'builtin:infini-gram',
  contentHash: '', contextSize: 1 << 20, remoteName: '', pricePer1kInput: '0', pricePer1kOutput: '0', registeredAt: 0, registeredBy: '',
};

/**
 * Registered models by id, from the models read model (one document lookup each, whatever the
 * number of adapters). A miss waits for the read models to catch up once, so a model registered a
 * moment ago is found.
 */
@Injectable()
export class ModelCatalog {
  constructor(
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
  ) {}

  async find(id: string): Promise<ModelDoc | undefined> {
    if (id === INFINI_GRAM_BASE) return infiniGramBase;
    return (await this.projections.readCaughtUp('inference', () => this.store.get('inference_models', id))) as ModelDoc | undefined;
  }

  async base(id: string): Promise<ModelDoc> {
    const m = await this.find(id);
    if (!m || m.kind !== 'base') throw new InferenceServiceError('BASE_MODEL_NOT_FOUND', `base_model_id: no base model ${id}`);
    return m;
  }

  /** An adapter id (with its base) or a base model id (served alone). */
  async target(model: string): Promise<ServingTarget> {
    if (!model) throw new InferenceServiceError('INVALID_FIELD', 'model: required');
    const m = await this.find(model);
    if (!m) throw new InferenceServiceError('ADAPTER_NOT_FOUND', `model: no adapter or base model ${model}`);
    if (m.kind === 'base') return { base: m, adapter: null };
    return { base: await this.base(m.parent), adapter: m };
  }

  async list(baseModelId: string): Promise<ModelDoc[]> {
    const items = await this.store.list('inference_models', {
      where: baseModelId ? { parent: baseModelId } : {},
      sort: [{ field: 'kind', order: 'desc' }, { field: 'id', order: 'asc' }],
    });
    const models = items as ModelDoc[];
    return baseModelId ? models : [infiniGramBase, ...models];
  }
}
