import type { GenerateInput, GenerateSummary } from '../../application/generate.handler.js';
import type { ModelDoc } from '../../projections/models.projection.js';
import { badRequest } from './openai-errors.js';

type Body = Record<string, unknown>;
export type Flavor = 'chat' | 'completion';
export type ParsedRequest = { input: Omit<GenerateInput, 'apiKey' | 'signal'>; stream: boolean; includeUsage: boolean };

const num = (b: Body, k: string): number | undefined => {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(k, 'must be a number');
  return v;
};

function stopOf(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string')) return v as string[];
  throw badRequest('stop', 'a string or up to 4 strings');
}

/**
 * Chat messages become one prompt: their contents joined by newlines (no roles), because the
 * tiny GGUF models have no chat template and the infini-gram engine continues the last words.
 */
function chatPrompt(messages: unknown): string {
  if (!Array.isArray(messages) || messages.length === 0) throw badRequest('messages', 'a non-empty array');
  return messages
    .map((m, i) => {
      const c = (m as Body)?.['content'];
      if (typeof c === 'string') return c;
      if (Array.isArray(c)) return c.map((p) => (typeof (p as Body)['text'] === 'string' ? (p as Body)['text'] : '')).join('');
      throw badRequest(`messages[${i}].content`, 'a string or text parts');
    })
    .join('\n');
}

export function parseRequest(flavor: Flavor, b: Body): ParsedRequest {
  if (typeof b['model'] !== 'string' || !b['model']) throw badRequest('model', 'required');
  let prompt: string;
  if (flavor === 'chat') prompt = chatPrompt(b['messages']);
  else if (typeof b['prompt'] === 'string') prompt = b['prompt'];
  else if (Array.isArray(b['prompt']) && b['prompt'].length === 1 && typeof b['prompt'][0] === 'string') prompt = b['prompt'][0];
  else throw badRequest('prompt', 'a string (one prompt per request)');
  if (b['n'] !== undefined && b['n'] !== 1) throw badRequest('n', 'only 1 is supported');
  const maxTokens = num(b, flavor === 'chat' && b['max_completion_tokens'] !== undefined ? 'max_completion_tokens' : 'max_tokens') ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw badRequest('max_tokens', 'a positive integer');
  const seed = num(b, 'seed');
  if (seed !== undefined && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) throw badRequest('seed', 'an integer from 0 to 2^32-1');
  const so = b['stream_options'] as Body | undefined;
  return {
    input: {
      model: b['model'], prompt, maxTokens, temperature: num(b, 'temperature'), topP: num(b, 'top_p'), topK: num(b, 'top_k'), seed,
      stop: stopOf(b['stop']), retrievedContributions: [],
    },
    stream: b['stream'] === true,
    includeUsage: so?.['include_usage'] === true,
  };
}

export const usageOf = (s: GenerateSummary) => ({ prompt_tokens: s.usage.promptTokens, completion_tokens: s.usage.completionTokens, total_tokens: s.usage.totalTokens });
const finishOf = (s: GenerateSummary) => (s.finishReason === 'length' ? 'length' : 'stop');
/** Opal's own fields, beside the standard ones (clients ignore unknown fields). */
const opalOf = (s: GenerateSummary) => ({ inference_id: s.inferenceId, fee: s.fee, time_to_first_token_ms: s.timings.timeToFirstTokenMs, tokens_per_second: s.timings.tokensPerSecond, adapter_load_ms: s.timings.adapterLoadMs });

export function chunk(flavor: Flavor, id: string, model: string, created: number, text: string | null, summary: GenerateSummary | null, first: boolean): object {
  const finish = summary ? finishOf(summary) : null;
  if (flavor === 'chat') {
    const delta = text !== null ? { ...(first ? { role: 'assistant' } : {}), content: text } : {};
    return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(summary ? { opal: opalOf(summary) } : {}) };
  }
  return { id, object: 'text_completion', created, model, choices: [{ index: 0, text: text ?? '', logprobs: null, finish_reason: finish }], ...(summary ? { opal: opalOf(summary) } : {}) };
}

export function usageChunk(flavor: Flavor, id: string, model: string, created: number, s: GenerateSummary): object {
  return { id, object: flavor === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model, choices: [], usage: usageOf(s) };
}

export function completion(flavor: Flavor, id: string, model: string, created: number, text: string, s: GenerateSummary): object {
  const choice = flavor === 'chat'
    ? { index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishOf(s) }
    : { index: 0, text, logprobs: null, finish_reason: finishOf(s) };
  return { id, object: flavor === 'chat' ? 'chat.completion' : 'text_completion', created, model, choices: [choice], usage: usageOf(s), opal: opalOf(s) };
}

export function modelList(models: readonly ModelDoc[]): object {
  return {
    object: 'list',
    data: models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.owner || 'opal', parent: m.kind === 'adapter' ? m.parent : null, root: m.kind === 'adapter' ? m.parent : m.id })),
  };
}
