import { TypedEventCodec, type Doc, type Projection } from '@opal/event-sourcing';
import { inferenceEventTypes, type InferenceEvent } from '../domain/inference.events.js';

export const inferenceCodec = new TypedEventCodec<InferenceEvent>('opal.inference.v1', inferenceEventTypes);

export type ModelDoc = { id: string; kind: 'base' | 'adapter'; parent: string; owner: string; datanetVersions: string[] };

/** Registered base models and adapters. */
export const modelsProjection: Projection<InferenceEvent> = {
  name: 'inference.models',
  codec: inferenceCodec,
  collections: [{ name: 'inference_models', indexes: ['parent'] }],
  route(e) {
    if (e.type === 'BaseModelRegistered') return [{ collection: 'inference_models', id: e.data.baseModelId }];
    if (e.type === 'AdapterRegistered') return [{ collection: 'inference_models', id: e.data.adapterId }];
    return [];
  },
  evolve(_ref, _doc, e): Doc | undefined {
    if (e.type === 'BaseModelRegistered') return { id: e.data.baseModelId, kind: 'base', parent: '', owner: '', datanetVersions: [] } satisfies ModelDoc;
    if (e.type === 'AdapterRegistered') {
      const d = e.data;
      return { id: d.adapterId, kind: 'adapter', parent: d.baseModelId, owner: d.owner, datanetVersions: [...d.datanetVersions] } satisfies ModelDoc;
    }
    return undefined;
  },
};
