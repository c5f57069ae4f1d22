import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel, type Token } from 'node-llama-cpp';
import type { AdapterSpec, BaseModelSpec, GenerateChunk, GenerateRequest, InferenceEngine } from '../inference-engine.port.js';
import { InferenceError } from '../inference.errors.js';
import { GenerationMeter } from '../generation-meter.js';
import { requestSignal } from '../request-signal.js';
import { SlotSemaphore } from '../slot.semaphore.js';
import { StopSequenceFilter } from '../stop-sequence.filter.js';
import { TokenTextDecoder } from './token-text.decoder.js';
import { releaseLoraWeights } from './lora-weights.release.js';

export type LlamaCppEngineOptions = {
  /** 'auto' picks CUDA/Vulkan/Metal where present, else CPU. */
  readonly gpu?: 'auto' | false | 'cuda' | 'vulkan' | 'metal';
  /** Threads per context. Unset, node-llama-cpp oversubscribes small machines badly; 1 is right for 2 cores. */
  readonly threads?: number;
  /** Concurrent sequences per (base, adapter) context: the slots of one adapter. */
  readonly slotsPerAdapter?: number;
  readonly contextSize?: number;
  /** Free an evicted adapter's weights (reaches into node-llama-cpp internals; see README). */
  readonly releaseWeightsOnUnload?: boolean;
  readonly logLevel?: 'error' | 'warn' | 'info';
};

type Served = { readonly context: LlamaContext; readonly slots: SlotSemaphore; readonly loraPath: string | null; active: number };
type Base = { readonly model: LlamaModel; readonly contextSize: number; base: Promise<Served> | null };

const key = (baseModelId: string, adapterId: string | null | undefined) => `${baseModelId}\u0000${adapterId ?? ''}`;

/**
 * llama.cpp through node-llama-cpp. Every (base, adapter) pair owns its own context, so KV cache,
 * sequences and any prompt state are keyed by adapter and never shared between tenants; each
 * request takes a fresh sequence and disposes it (clearing its KV cells) when done.
 */
export class LlamaCppEngine implements InferenceEngine {
  readonly kind = 'llama-cpp' as const;
  private llama: Promise<Llama> | null = null;
  private readonly bases = new Map<string, Base>();
  private readonly served = new Map<string, Promise<Served>>();
  /** Contexts per LoRA file: weights are freed only when the last context using them goes. */
  private readonly loraUsers = new Map<string, number>();
  private readonly threads: number;
  private readonly slots: number;

  constructor(private readonly opts: LlamaCppEngineOptions = {}) {
    this.threads = opts.threads ?? 1;
    this.slots = opts.slotsPerAdapter ?? 2;
  }

  /** The backend in use ('cuda', 'vulkan', 'metal' or false for CPU). */
  async backend(): Promise<string | false> {
    return (await this.getLlama()).gpu;
  }

  private getLlama(): Promise<Llama> {
    const level = { error: LlamaLogLevel.error, warn: LlamaLogLevel.warn, info: LlamaLogLevel.info }[this.opts.logLevel ?? 'error'];
    this.llama ??= getLlama({ gpu: this.opts.gpu ?? 'auto', logLevel: level });
    return this.llama;
  }

  async loadBaseModel(spec: BaseModelSpec): Promise<void> {
    if (this.bases.has(spec.id)) return;
    if (!spec.path) throw new InferenceError('INVALID_ARGUMENT', `base model ${spec.id}: llama.cpp needs a GGUF path`);
    const llama = await this.getLlama();
    const model = await llama.loadModel({ modelPath: spec.path });
    this.bases.set(spec.id, { model, contextSize: spec.contextSize ?? this.opts.contextSize ?? 512, base: null });
  }

  async unloadBaseModel(baseModelId: string): Promise<void> {
    const b = this.bases.get(baseModelId);
    if (!b) return;
    for (const k of [...this.served.keys()]) if (k.startsWith(`${baseModelId}\u0000`)) this.served.delete(k);
    this.bases.delete(baseModelId);
    await b.model.dispose();
  }

  private base(id: string): Base {
    const b = this.bases.get(id);
    if (!b) throw new InferenceError('BASE_MODEL_NOT_FOUND', `base model ${id} is not loaded`);
    return b;
  }

  private async createServed(b: Base, loraPath: string | null, scale: number): Promise<Served> {
    if (loraPath) this.loraUsers.set(loraPath, (this.loraUsers.get(loraPath) ?? 0) + 1);
    const context = await b.model.createContext({
      contextSize: b.contextSize,
      sequences: this.slots,
      threads: this.threads,
      ...(loraPath ? { lora: { adapters: [{ filePath: loraPath, scale }] } } : {}),
    });
    return { context, slots: new SlotSemaphore(this.slots), loraPath, active: 0 };
  }

  async loadAdapter(spec: AdapterSpec): Promise<{ loadMs: number }> {
    const b = this.base(spec.baseModelId);
    const k = key(spec.baseModelId, spec.id);
    const existing = this.served.get(k);
    if (existing) {
      await existing;
      return { loadMs: 0 };
    }
    const t0 = performance.now();
    const p = this.createServed(b, spec.path, spec.scale ?? 1);
    this.served.set(k, p);
    try {
      await p;
    } catch (e) {
      this.served.delete(k);
      const users = (this.loraUsers.get(spec.path) ?? 1) - 1;
      if (users > 0) this.loraUsers.set(spec.path, users);
      else this.loraUsers.delete(spec.path);
      // node-llama-cpp only says "Failed to initialize LoRA adapter"; validate with @opal/gguf first.
      throw new InferenceError('ADAPTER_INVALID', `adapter ${spec.id}: ${(e as Error).message}`, { cause: e });
    }
    return { loadMs: performance.now() - t0 };
  }

  async unloadAdapter(baseModelId: string, adapterId: string): Promise<void> {
    const k = key(baseModelId, adapterId);
    const p = this.served.get(k);
    if (!p) return;
    this.served.delete(k);
    const s = await p;
    await s.context.dispose();
    if (!s.loraPath) return;
    const users = (this.loraUsers.get(s.loraPath) ?? 1) - 1;
    if (users > 0) {
      this.loraUsers.set(s.loraPath, users);
      return;
    }
    this.loraUsers.delete(s.loraPath);
    const b = this.bases.get(baseModelId);
    if (this.opts.releaseWeightsOnUnload !== false && b) await releaseLoraWeights(b.model, s.loraPath);
  }

  isAdapterLoaded(baseModelId: string, adapterId: string): boolean {
    return this.served.has(key(baseModelId, adapterId));
  }

  /** Free slots of an adapter's context (for tests and metrics). */
  async freeSlots(baseModelId: string, adapterId: string | null): Promise<number> {
    const p = adapterId ? this.served.get(key(baseModelId, adapterId)) : this.bases.get(baseModelId)?.base;
    return p ? (await p).slots.available : 0;
  }

  private servedFor(req: GenerateRequest): Promise<Served> {
    const b = this.base(req.baseModelId);
    if (!req.adapterId) {
      b.base ??= this.createServed(b, null, 0);
      return b.base;
    }
    const p = this.served.get(key(req.baseModelId, req.adapterId));
    if (!p) throw new InferenceError('ADAPTER_NOT_FOUND', `adapter ${req.adapterId} is not loaded on ${req.baseModelId}`);
    return p;
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateChunk> {
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) throw new InferenceError('INVALID_ARGUMENT', 'maxTokens must be a positive integer');
    const meter = new GenerationMeter();
    const served = await this.servedFor(req);
    const model = this.base(req.baseModelId).model;
    const rs = requestSignal(req);
    try {
      if (!(await served.slots.acquire(rs.signal))) {
        yield meter.done(rs.reason() ?? 'cancelled');
        return;
      }
      meter.dequeued();
      served.active++;
      const sequence = served.context.getSequence();
      try {
        const prompt: Token[] = [model.tokens.bos!, ...model.tokenize(req.prompt, false)].filter((t) => t !== null) as Token[];
        if (prompt.length + req.maxTokens > served.context.contextSize) {
          throw new InferenceError('INVALID_ARGUMENT', `prompt (${prompt.length}) plus maxTokens (${req.maxTokens}) exceeds the context size ${served.context.contextSize}`);
        }
        meter.promptTokens = prompt.length;
        const decoder = new TokenTextDecoder(model);
        const stops = new StopSequenceFilter(req.stop ?? []);
        const temperature = req.temperature ?? 0;
        let finish: 'stop' | 'length' | null = null;
        let stopTokens = 0;
        const it = sequence.evaluate(prompt, {
          temperature,
          ...(temperature > 0 ? { seed: req.seed ?? 0, topP: req.topP, topK: req.topK } : {}),
        });
        for await (const token of it) {
          if (rs.signal.aborted) break;
          meter.token();
          const piece = decoder.push(token);
          if (piece) {
            const r = stops.push(piece.text, piece.tokens);
            if (r.emit) yield { type: 'token', text: r.emit, tokenCount: r.emitTokens };
            if (r.stopped) {
              finish = 'stop';
              stopTokens = r.stopTokens;
              break;
            }
          }
          if (meter.completionTokens >= req.maxTokens) {
            finish = 'length';
            break;
          }
          if (rs.signal.aborted) break;
        }
        const reason = rs.reason();
        if (reason) {
          yield meter.done(reason);
          return;
        }
        if (finish !== 'stop') {
          const rest = decoder.flush();
          const r = rest ? stops.push(rest.text, rest.tokens) : null;
          if (r?.emit) yield { type: 'token', text: r.emit, tokenCount: r.emitTokens };
          if (r?.stopped) {
            finish = 'stop';
            stopTokens = r.stopTokens;
          } else {
            const tail = stops.flush();
            if (tail.emit) yield { type: 'token', text: tail.emit, tokenCount: tail.emitTokens };
          }
        }
        // The iterator ending on its own means an end-of-generation token.
        yield meter.done(finish ?? 'stop', stopTokens);
      } finally {
        await sequence.dispose();
        served.active--;
        served.slots.release();
      }
    } finally {
      rs.dispose();
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.bases.keys()]) await this.unloadBaseModel(id);
    if (this.llama) await (await this.llama).dispose();
    this.llama = null;
  }
}
