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
  /** The registration's time and event id: of a base and an adapter registered with one id at once, the earlier keeps it. */
  registeredAt: number;
  registeredBy: string;
};

/** Registered base models and adapters. */
export const modelsProjection: Projection<InferenceEvent> = {
  name: 'inference.models',
  // 2: an id registered twice keeps its earliest registration (it was the last applied).
  version: 2,
  codec: inferenceCodec,
  collections: [{ name: 'inference_models', indexes: ['parent'] }],
  route(e) {
    if (e.type === 'BaseModelRegistered') return [{ collection: 'inference_models', id: e.data.baseModelId }];
    if (e.type === 'AdapterRegistered') return [{ collection: 'inference_models', id: e.data.adapterId }];
    return [];
  },
  evolve(_ref, doc, e): Doc | undefined {
    const at = { registeredAt: e.meta.occurredAt, registeredBy: e.meta.eventId };
    let next: ModelDoc;
    if (e.type === 'BaseModelRegistered') {
      const d = e.data;
      next = {
        id: d.baseModelId, kind: 'base', parent: '', owner: '', datanetVersions: [], engine: d.kind, uri: d.uri, contentHash: d.contentHash,
        contextSize: d.contextSize, remoteName: d.remoteName, pricePer1kInput: '0', pricePer1kOutput: '0', ...at,
      };
    } else if (e.type === 'AdapterRegistered') {
      const d = e.data;
      next = {
        id: d.adapterId, kind: 'adapter', parent: d.baseModelId, owner: d.owner, datanetVersions: [...d.datanetVersions], engine: '', uri: d.uri,
        contentHash: d.contentHash, contextSize: 0, remoteName: '', pricePer1kInput: d.pricePer1kInput, pricePer1kOutput: d.pricePer1kOutput, ...at,
      };
    } else return undefined;
    // A base and an adapter registered with one id at once (each checks the other kind's stream,
    // which neither has reached yet): the earlier keeps the id, in whatever order the two are
    // applied (they are on different streams, so partitions), so a replay and every replica agree.
    const held = doc as ModelDoc | undefined;
    return held && held.registeredBy !== next.registeredBy && !earlier(next, held) ? held : next;
  },
};

/** Whether registration `a` came before `b`: by time, then by event id. */
function earlier(a: Pick<ModelDoc, 'registeredAt' | 'registeredBy'>, b: Pick<ModelDoc, 'registeredAt' | 'registeredBy'>): boolean {
  return a.registeredAt !== b.registeredAt ? a.registeredAt < b.registeredAt : a.registeredBy < b.registeredBy;
}
