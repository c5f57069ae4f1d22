import { TypedEventCodec, type Doc, type Projection } from '@opal/event-sourcing';
import { inferenceEventTypes, type InferenceEvent } from '../domain/inference.events.js';

export const inferenceCodec = new TypedEventCodec<InferenceEvent>('opal.inference.v1', inferenceEventTypes);

/** A registered base model or adapter: everything serving it needs, read by id (O(1)). */
export type ModelDoc = {
  id: string;
  kind: 'base' | 'adapter';
  /** The base model an adapter runs on; '' for a base. */
  parent: string;
  owner: string;
  datanetVersions: string[];
  /** Base: 'gguf' | 'remote'; adapter: ''. */
  engine: string;
  /** File path, endpoint URL, or (infini-gram adapter) the Datanet version. */
  uri: string;
  contentHash: string;
  contextSize: number;
  remoteName: string;
  pricePer1kInput: string;
  pricePer1kOutput: string;
};

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
    if (e.type === 'BaseModelRegistered') {
      const d = e.data;
      return {
        id: d.baseModelId, kind: 'base', parent: '', owner: '', datanetVersions: [], engine: d.kind, uri: d.uri, contentHash: d.contentHash,
        contextSize: d.contextSize, remoteName: d.remoteName, pricePer1kInput: '0', pricePer1kOutput: '0',
      } satisfies ModelDoc;
    }
    if (e.type === 'AdapterRegistered') {
      const d = e.data;
      return {
        id: d.adapterId, kind: 'adapter', parent: d.baseModelId, owner: d.owner, datanetVersions: [...d.datanetVersions], engine: '', uri: d.uri,
        contentHash: d.contentHash, contextSize: 0, remoteName: '', pricePer1kInput: d.pricePer1kInput, pricePer1kOutput: d.pricePer1kOutput,
      } satisfies ModelDoc;
    }
    return undefined;
  },
};
