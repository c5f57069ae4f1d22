/** What an engine needs to serve a base model: a GGUF file (llama.cpp) or a model name (remote). */
export type BaseModelSpec = {
  readonly id: string;
  readonly path?: string;
  /** Model name on a remote server; defaults to `id`. */
  readonly remoteName?: string;
  readonly contextSize?: number;
};

export type AdapterSpec = {
  readonly id: string;
  readonly baseModelId: string;
  /** A local file (llama.cpp) or a path the remote server can read. */
  readonly path: string;
  /** LoRA scale; the effective factor is scale × alpha / rank. Defaults to 1. */
  readonly scale?: number;
};

export type GenerateRequest = {
  readonly baseModelId: string;
  /** null or absent: the base model alone. */
  readonly adapterId?: string | null;
  readonly prompt: string;
  readonly maxTokens: number;
  /** 0 (the default) is greedy decoding. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly seed?: number;
  readonly stop?: readonly string[];
  readonly signal?: AbortSignal;
  /** Absolute deadline, epoch milliseconds. */
  readonly deadline?: number;
};

export type FinishReason = 'stop' | 'length' | 'cancelled' | 'deadline';

export type GenerationUsage = {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
};

export type GenerationTimings = {
  /** Waiting for a free slot (sequence) on the engine. */
  readonly queueMs: number;
  /** Waiting for the adapter to become resident (0 when it already was). */
  readonly adapterLoadMs: number;
  /** From the call to the first token chunk; null when no token was produced. */
  readonly timeToFirstTokenMs: number | null;
  readonly totalMs: number;
  /** Completion tokens over the time from the first to the last token. */
  readonly tokensPerSecond: number;
};

/**
 * One piece of streamed text. `tokenCount` is how many model tokens it carries (usually 1; more when a
 * multi-byte character or a possible stop sequence was held back). Summed over a stream it equals
 * `usage.completionTokens` minus the tokens that formed a matched stop sequence.
 */
export type TokenChunk = { readonly type: 'token'; readonly text: string; readonly tokenCount: number };
export type DoneChunk = {
  readonly type: 'done';
  readonly finishReason: FinishReason;
  readonly usage: GenerationUsage;
  readonly timings: GenerationTimings;
  /** Tokens that formed a matched stop sequence: counted in usage, never streamed. */
  readonly stopTokens: number;
};
export type GenerateChunk = TokenChunk | DoneChunk;

/** An inference backend. Cancellation and deadlines end the stream with a `done` chunk, never a throw. */
export type InferenceEngine = {
  readonly kind: 'llama-cpp' | 'openai-remote' | 'infini-gram';
  loadBaseModel(spec: BaseModelSpec): Promise<void>;
  unloadBaseModel(baseModelId: string): Promise<void>;
  /** Makes an adapter servable; resolves with how long the load took. */
  loadAdapter(spec: AdapterSpec): Promise<{ readonly loadMs: number }>;
  unloadAdapter(baseModelId: string, adapterId: string): Promise<void>;
  generate(request: GenerateRequest): AsyncIterable<GenerateChunk>;
  close(): Promise<void>;
};
