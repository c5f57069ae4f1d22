import type { AttributionIndex } from '@opal/attribution-index';
import { seededRandom } from '@opal/gguf';
import type { AdapterSpec, BaseModelSpec, GenerateChunk, GenerateRequest, InferenceEngine } from '../inference-engine.port.js';
import { InferenceError } from '../inference.errors.js';
import { GenerationMeter } from '../generation-meter.js';
import { requestSignal } from '../request-signal.js';
import { StopSequenceFilter } from '../stop-sequence.filter.js';
import { InfiniGramSampler } from './infini-gram.sampler.js';

export type InfiniGramEngineOptions = {
  /** Opens (building if needed) the attribution index of "<datanet>@<version>". */
  readonly openIndex: (datanetVersion: string) => Promise<AttributionIndex>;
  /** Longest context suffix looked up, in words. */
  readonly maxContextWords?: number;
};

/**
 * The embedded default engine: an extractive infini-gram language model over a Datanet version's
 * attribution index. An adapter's `path` is the Datanet version ("<datanet>@<version>"); one word
 * is one token. Sampling is always seeded (seed 0 when none is given), so a request is reproducible.
 */
export class InfiniGramEngine implements InferenceEngine {
  readonly kind = 'infini-gram' as const;
  private readonly bases = new Set<string>();
  private readonly adapters = new Map<string, Promise<InfiniGramSampler>>();

  constructor(private readonly opts: InfiniGramEngineOptions) {}

  async loadBaseModel(spec: BaseModelSpec): Promise<void> {
    this.bases.add(spec.id);
  }

  async unloadBaseModel(baseModelId: string): Promise<void> {
    this.bases.delete(baseModelId);
  }

  async loadAdapter(spec: AdapterSpec): Promise<{ loadMs: number }> {
    if (!this.bases.has(spec.baseModelId)) throw new InferenceError('BASE_MODEL_NOT_FOUND', `base model ${spec.baseModelId} is not loaded`);
    const t0 = performance.now();
    let p = this.adapters.get(spec.id);
    if (!p) {
      p = this.opts.openIndex(spec.path).then((index) => new InfiniGramSampler(index, this.opts.maxContextWords));
      this.adapters.set(spec.id, p);
      p.catch(() => this.adapters.delete(spec.id));
    }
    try {
      await p;
    } catch (e) {
      throw new InferenceError('ADAPTER_INVALID', `adapter ${spec.id}: no index for ${spec.path}: ${(e as Error).message}`, { cause: e });
    }
    return { loadMs: performance.now() - t0 };
  }

  async unloadAdapter(_baseModelId: string, adapterId: string): Promise<void> {
    this.adapters.delete(adapterId);
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateChunk> {
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) throw new InferenceError('INVALID_ARGUMENT', 'maxTokens must be a positive integer');
    if (!req.adapterId) throw new InferenceError('INVALID_ARGUMENT', 'the infini-gram engine needs an adapter (a Datanet version)');
    const p = this.adapters.get(req.adapterId);
    if (!p) throw new InferenceError('ADAPTER_NOT_FOUND', `adapter ${req.adapterId} is not loaded`);
    const sampler = await p;
    const meter = new GenerationMeter();
    meter.dequeued();
    const rs = requestSignal(req);
    try {
      const context = sampler.encode(req.prompt);
      meter.promptTokens = context.length;
      const rand = seededRandom(req.seed ?? 0);
      const stops = new StopSequenceFilter(req.stop ?? []);
      let finish: 'stop' | 'length' = 'length';
      let stopTokens = 0;
      while (meter.completionTokens < req.maxTokens) {
        // Yield to the event loop now and then, so cancellation and deadlines are seen.
        if (meter.completionTokens % 16 === 15) await new Promise<void>((r) => setImmediate(r));
        if (rs.signal.aborted) break;
        let id = sampler.next(context, rand);
        // The passage ended before anything was written: start from another passage.
        if (id === 0 && meter.completionTokens === 0) id = sampler.start(rand);
        if (id === 0) {
          finish = 'stop';
          break;
        }
        context.push(id);
        meter.token();
        const r = stops.push((meter.completionTokens === 1 ? '' : ' ') + sampler.word(id), 1);
        if (r.emit) yield { type: 'token', text: r.emit, tokenCount: r.emitTokens };
        if (r.stopped) {
          finish = 'stop';
          stopTokens = r.stopTokens;
          break;
        }
      }
      const reason = rs.reason();
      if (reason) {
        yield meter.done(reason);
        return;
      }
      if (stopTokens === 0) {
        const tail = stops.flush();
        if (tail.emit) yield { type: 'token', text: tail.emit, tokenCount: tail.emitTokens };
      }
      yield meter.done(finish, stopTokens);
    } finally {
      rs.dispose();
    }
  }

  async close(): Promise<void> {
    this.adapters.clear();
    this.bases.clear();
  }
}
