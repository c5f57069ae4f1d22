import { join } from 'node:path';
import {
  AdapterResidency, InferenceError, InfiniGramEngine, LlamaCppEngine, OpenAiRemoteEngine,
  type GenerateChunk, type GenerateRequest, type InferenceEngine,
} from '@opal/lora-runtime';
import type { AttributionIndex } from '@opal/attribution-index';
import type { EngineStats, ServingEngines, ServingTarget } from '../../application/inference.ports.js';
import type { InferenceConfig } from '../../inference.config.js';

type Served = { readonly engine: InferenceEngine; readonly residency: AdapterResidency; readonly bases: Map<string, Promise<void>> };

/**
 * One engine per kind (llama.cpp for GGUF bases, one remote engine per endpoint, infini-gram), each
 * with its own adapter residency. Base models load on first use; adapters are registered with the
 * residency on first use, so thousands of registered adapters cost nothing until requested.
 */
export class EngineRouter implements ServingEngines {
  private readonly served = new Map<string, Served>();

  constructor(
    private readonly config: InferenceConfig,
    private readonly dataDir: string,
    private readonly openIndex: (datanetVersion: string) => Promise<AttributionIndex>,
  ) {}

  private servedFor(base: ServingTarget['base']): Served {
    const key = base.engine === 'remote' ? `remote:${base.uri}` : base.engine;
    let s = this.served.get(key);
    if (s) return s;
    const c = this.config;
    let engine: InferenceEngine;
    if (base.engine === 'gguf') engine = new LlamaCppEngine({ threads: c.threads, slotsPerAdapter: c.slotsPerAdapter, gpu: c.gpu });
    else if (base.engine === 'remote') engine = new OpenAiRemoteEngine({ baseUrl: base.uri });
    else if (base.engine === 'infini-gram') engine = new InfiniGramEngine({ openIndex: this.openIndex });
    else throw new InferenceError('ENGINE_UNAVAILABLE', `base model ${base.id}: no engine for kind ${JSON.stringify(base.engine)}`);
    // Only llama.cpp reads adapter files here; the others take the path as a name.
    const hostTier = base.engine === 'gguf' ? c.maxHostAdapters : 0;
    const residency = new AdapterResidency({ engine, maxResidentPerBase: c.maxResidentPerBase, maxHostAdapters: hostTier, stagingDir: join(this.dataDir, 'inference', 'staged') });
    s = { engine, residency, bases: new Map() };
    this.served.set(key, s);
    return s;
  }

  private async ready(s: Served, target: ServingTarget): Promise<void> {
    const { base, adapter } = target;
    let loading = s.bases.get(base.id);
    if (!loading) {
      loading = s.engine.loadBaseModel({ id: base.id, path: base.uri, remoteName: base.remoteName || undefined, contextSize: base.contextSize });
      s.bases.set(base.id, loading);
      loading.catch(() => s.bases.delete(base.id));
    }
    await loading;
    // Idempotent and O(1): a registration is immutable, so registering again changes nothing.
    if (adapter) s.residency.register({ id: adapter.id, baseModelId: base.id, path: adapter.uri, contentHash: adapter.contentHash || undefined });
  }

  async *generate(target: ServingTarget, req: Omit<GenerateRequest, 'baseModelId' | 'adapterId'>): AsyncGenerator<GenerateChunk> {
    const s = this.servedFor(target.base);
    await this.ready(s, target);
    yield* s.residency.generate({ ...req, baseModelId: target.base.id, adapterId: target.adapter?.id ?? null });
  }

  stats(): EngineStats {
    let residentAdapters = 0;
    let loadingAdapters = 0;
    let waitingRequests = 0;
    for (const s of this.served.values()) {
      const st = s.residency.stats();
      residentAdapters += st.resident;
      loadingAdapters += st.loading;
      waitingRequests += st.waitingRequests;
    }
    return { residentAdapters, loadingAdapters, waitingRequests };
  }

  async close(): Promise<void> {
    for (const s of this.served.values()) await s.engine.close();
    this.served.clear();
  }
}
