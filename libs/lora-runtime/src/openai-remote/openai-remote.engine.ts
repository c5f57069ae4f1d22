import type { AdapterSpec, BaseModelSpec, GenerateChunk, GenerateRequest, InferenceEngine } from '../inference-engine.port.js';
import { InferenceError } from '../inference.errors.js';
import { GenerationMeter } from '../generation-meter.js';
import { requestSignal } from '../request-signal.js';
import { sseData } from './sse.parser.js';

export type OpenAiRemoteEngineOptions = {
  /** e.g. http://127.0.0.1:8000 (the server's root; /v1 is appended). */
  readonly baseUrl: string;
  readonly apiKey?: string;
};

type CompletionChunk = {
  choices?: { text?: string; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
};

/**
 * An OpenAI-compatible server with runtime LoRA loading (vLLM started with --enable-lora and
 * VLLM_ALLOW_RUNTIME_LORA_UPDATING): adapters are registered with /v1/load_lora_adapter and
 * addressed by name as the `model` of /v1/completions, which streams server-sent events.
 */
export class OpenAiRemoteEngine implements InferenceEngine {
  readonly kind = 'openai-remote' as const;
  private readonly bases = new Map<string, string>();
  private readonly adapters = new Map<string, string>();

  constructor(private readonly opts: OpenAiRemoteEngineOptions) {}

  private url(path: string): string {
    return `${this.opts.baseUrl.replace(/\/$/, '')}/v1${path}`;
  }

  private headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) };
  }

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(this.url(path), { method: 'POST', headers: this.headers(), body: JSON.stringify(body), signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new InferenceError('ENGINE_UNAVAILABLE', `${this.url(path)}: ${(e as Error).message}`, { cause: e });
    }
  }

  async loadBaseModel(spec: BaseModelSpec): Promise<void> {
    const name = spec.remoteName ?? spec.id;
    let res: Response;
    try {
      res = await fetch(this.url('/models'), { headers: this.headers() });
    } catch (e) {
      throw new InferenceError('ENGINE_UNAVAILABLE', `${this.url('/models')}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok) throw new InferenceError('ENGINE_UNAVAILABLE', `GET /v1/models answered ${res.status}`);
    const body = (await res.json()) as { data?: { id: string }[] };
    if (!body.data?.some((m) => m.id === name)) throw new InferenceError('BASE_MODEL_NOT_FOUND', `remote server does not serve ${name}`);
    this.bases.set(spec.id, name);
  }

  async unloadBaseModel(baseModelId: string): Promise<void> {
    this.bases.delete(baseModelId);
  }

  async loadAdapter(spec: AdapterSpec): Promise<{ loadMs: number }> {
    if (!this.bases.has(spec.baseModelId)) throw new InferenceError('BASE_MODEL_NOT_FOUND', `base model ${spec.baseModelId} is not loaded`);
    const t0 = performance.now();
    const res = await this.post('/load_lora_adapter', { lora_name: spec.id, lora_path: spec.path });
    const text = await res.text();
    // vLLM answers 400 when the name is already loaded: that is the state we want.
    if (!res.ok && !(res.status === 400 && /already/i.test(text))) {
      throw new InferenceError('ADAPTER_INVALID', `adapter ${spec.id}: load_lora_adapter answered ${res.status}: ${text.slice(0, 200)}`);
    }
    this.adapters.set(spec.id, spec.baseModelId);
    return { loadMs: performance.now() - t0 };
  }

  async unloadAdapter(_baseModelId: string, adapterId: string): Promise<void> {
    if (!this.adapters.delete(adapterId)) return;
    const res = await this.post('/unload_lora_adapter', { lora_name: adapterId });
    await res.body?.cancel();
  }

  async *generate(req: GenerateRequest): AsyncGenerator<GenerateChunk> {
    const base = this.bases.get(req.baseModelId);
    if (!base) throw new InferenceError('BASE_MODEL_NOT_FOUND', `base model ${req.baseModelId} is not loaded`);
    if (req.adapterId && this.adapters.get(req.adapterId) !== req.baseModelId) {
      throw new InferenceError('ADAPTER_NOT_FOUND', `adapter ${req.adapterId} is not loaded on ${req.baseModelId}`);
    }
    const meter = new GenerationMeter();
    const rs = requestSignal(req);
    let streamed = 0;
    let finish: string | null = null;
    try {
      const res = await this.post(
        '/completions',
        {
          model: req.adapterId ?? base,
          prompt: req.prompt,
          max_tokens: req.maxTokens,
          temperature: req.temperature ?? 0,
          ...(req.topP !== undefined ? { top_p: req.topP } : {}),
          ...(req.topK !== undefined ? { top_k: req.topK } : {}),
          ...(req.seed !== undefined ? { seed: req.seed } : {}),
          ...(req.stop?.length ? { stop: req.stop } : {}),
          stream: true,
          stream_options: { include_usage: true },
        },
        rs.signal,
      );
      meter.dequeued();
      if (!res.ok || !res.body) {
        const text = await res.text();
        const code = res.status === 404 ? 'ADAPTER_NOT_FOUND' : res.status === 429 ? 'CAPACITY_EXHAUSTED' : 'ENGINE_FAILURE';
        throw new InferenceError(code, `completions answered ${res.status}: ${text.slice(0, 200)}`);
      }
      let usage: CompletionChunk['usage'] = null;
      for await (const data of sseData(res.body)) {
        if (data === '[DONE]') break;
        const c = JSON.parse(data) as CompletionChunk;
        if (c.error) throw new InferenceError('ENGINE_FAILURE', `remote error: ${c.error.message ?? 'unknown'}`);
        if (c.usage) usage = c.usage;
        const choice = c.choices?.[0];
        if (choice?.text) {
          // One SSE chunk per token is what vLLM sends; usage from the server settles the count.
          meter.token();
          streamed++;
          yield { type: 'token', text: choice.text, tokenCount: 1 };
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
      meter.promptTokens = usage?.prompt_tokens ?? 0;
      meter.completionTokens = usage?.completion_tokens ?? meter.completionTokens;
      yield meter.done(finish === 'length' ? 'length' : 'stop', Math.max(0, meter.completionTokens - streamed));
    } catch (e) {
      const reason = rs.reason();
      if (!reason) throw e;
      yield meter.done(reason);
    } finally {
      rs.dispose();
    }
  }

  async close(): Promise<void> {
    this.bases.clear();
    this.adapters.clear();
  }
}
