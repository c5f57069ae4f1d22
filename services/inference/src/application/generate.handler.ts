import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { EVENT_LOG, EventLogError, traceContextEnabled, tracer, type EventLog } from '@opal/event-log';
import { InferenceError, type DoneChunk, type InferenceErrorCode } from '@opal/lora-runtime';
import { CLOCK, LOGGER, type Clock } from '@opal/service-runtime';
import { inferenceStream, type InferenceEvent } from '../domain/inference.events.js';
import { InferenceServiceError, type InferenceServiceErrorCode } from '../domain/inference.errors.js';
import { quoteFee } from '../domain/pricing.js';
import { platformFeeBpsInForce } from './fee-params-in-force.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { INFERENCE_CONFIG, type InferenceConfig } from '../inference.config.js';
import { INFERENCE_METRICS, SERVING_ENGINES, type InferenceMetrics, type ServingEngines } from './inference.ports.js';
import { ModelCatalog } from './model-catalog.js';
import { BalanceHolds } from './balance-holds.js';
import { TenantLedger } from './tenant-ledger.js';

export type GenerateInput = {
  apiKey: string | undefined;
  model: string;
  prompt: string;
  /** 0: the service default. */
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: string[];
  retrievedContributions: string[];
  signal?: AbortSignal;
  deadline?: number;
};

export type GenerateSummary = {
  inferenceId: string;
  model: string;
  finishReason: DoneChunk['finishReason'];
  usage: DoneChunk['usage'];
  timings: DoneChunk['timings'];
  fee: string;
};

export type GenerateOutput = { type: 'text'; text: string; tokenCount: number } | { type: 'summary'; summary: GenerateSummary };

const engineCodes: Record<InferenceErrorCode, InferenceServiceErrorCode> = {
  BASE_MODEL_NOT_FOUND: 'BASE_MODEL_NOT_FOUND',
  ADAPTER_NOT_FOUND: 'ADAPTER_NOT_FOUND',
  ADAPTER_INVALID: 'INVALID_MODEL_FILE',
  INVALID_ARGUMENT: 'INVALID_FIELD',
  CAPACITY_EXHAUSTED: 'CAPACITY_EXHAUSTED',
  ENGINE_UNAVAILABLE: 'ENGINE_UNAVAILABLE',
  ENGINE_FAILURE: 'ENGINE_FAILURE',
};

/**
 * Generate: authenticate, quote the worst case (prompt bound + max tokens) and hold it against the
 * balance before any work, stream the engine's tokens, then record InferenceCompleted (fee on the
 * actual usage) or InferenceFailed, and settle the hold with that fee.
 */
/** Stop sequences a request may give (as OpenAI's API). */
const MAX_STOP = 4;

/**
 * The sampling fields, checked before anything is held: they reached the engine after the hold,
 * unchecked over gRPC (NaN, a negative temperature, top_p above 1), and a bad one was recorded as
 * a failed inference.
 */
function checkFields(input: Pick<GenerateInput, 'temperature' | 'topP' | 'topK' | 'stop' | 'retrievedContributions'>): void {
  const bad = (field: string, what: string) => new InferenceServiceError('INVALID_FIELD', `${field}: ${what}`);
  if (input.temperature !== undefined && !(Number.isFinite(input.temperature) && input.temperature >= 0 && input.temperature <= 2)) throw bad('temperature', 'a number from 0 to 2');
  if (input.topP !== undefined && !(Number.isFinite(input.topP) && input.topP >= 0 && input.topP <= 1)) throw bad('top_p', 'a number from 0 to 1');
  if (input.topK !== undefined && !(Number.isInteger(input.topK) && input.topK >= 0)) throw bad('top_k', 'a whole number, 0 or more');
  if (input.stop.length > MAX_STOP) throw bad('stop', `at most ${MAX_STOP} sequences`);
  input.stop.forEach((s, i) => {
    if (s.length === 0) throw bad(`stop[${i}]`, 'not empty');
  });
  // Contribution ids the caller put in the prompt (RAG), credited by the receipt: anything else
  // was taken without a word and credited nobody.
  if (input.retrievedContributions.length > MAX_RETRIEVED) throw bad('retrieved_contributions', `at most ${MAX_RETRIEVED} contribution ids`);
  input.retrievedContributions.forEach((id, i) => {
    if (!/^0x[0-9a-f]{64}$/.test(id)) throw bad(`retrieved_contributions[${i}]`, `a contribution id (0x and 64 hex digits), got ${JSON.stringify(id.slice(0, 80))}`);
  });
}

/** Contribution ids one request may name as retrieved into its prompt. */
const MAX_RETRIEVED = 1000;

/** Appends of an inference's outcome whose answers were lost, before the request fails (see record). */
const RECORD_ATTEMPTS = 4;

@Injectable()
export class GenerateHandler {
  /** Added to each request's model price, basis points of it (see platformFeeBpsInForce). */
  private readonly platformFeeBps = platformFeeBpsInForce();

  constructor(
    private readonly catalog: ModelCatalog,
    private readonly ledger: TenantLedger,
    private readonly holds: BalanceHolds,
    @Inject(SERVING_ENGINES) private readonly engines: ServingEngines,
    @Inject(INFERENCE_METRICS) private readonly metrics: InferenceMetrics,
    @Inject(EVENT_LOG) private readonly log: EventLog,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(INFERENCE_CONFIG) private readonly config: InferenceConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Checks everything that can refuse the request, then returns the stream (nothing ran yet). */
  async start(input: GenerateInput): Promise<AsyncIterable<GenerateOutput>> {
    try {
      const tenant = await this.ledger.authenticate(input.apiKey);
      const target = await this.catalog.target(input.model);
      const maxTokens = input.maxTokens || this.config.defaultMaxTokens;
      if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new InferenceServiceError('INVALID_FIELD', 'max_tokens: a positive integer');
      checkFields(input);
      const prices = { pricePer1kInput: BigInt(target.adapter?.pricePer1kInput ?? '0'), pricePer1kOutput: BigInt(target.adapter?.pricePer1kOutput ?? '0') };
      // Every tokenizer here spends at least one byte per token (plus BOS): a bound known before any work.
      const promptBound = Buffer.byteLength(input.prompt, 'utf8') + 1;
      const inferenceId = randomUUID();
      // The request's trace can be found by the inference id (tracing on; a no-op otherwise).
      trace.getActiveSpan()?.setAttributes({ 'opal.inference_id': inferenceId, 'opal.tenant': tenant, 'opal.model': input.model });
      const { expiresAt } = await this.holds.hold(tenant, inferenceId, quoteFee(prices, promptBound, maxTokens, this.platformFeeBps).total);
      // Stopped in time to record its outcome before the hold expires (and another replica settles it).
      const margin = Math.min(30_000, this.config.holdMs / 10);
      const deadline = Math.min(input.deadline ?? Infinity, expiresAt - margin);
      return this.run({ ...input, deadline }, { inferenceId, tenant, target, prices, maxTokens, promptBound });
    } catch (e) {
      if (e instanceof InferenceServiceError) this.metrics.refused(e.code);
      throw e;
    }
  }

  private async *run(
    input: GenerateInput,
    ctx: { inferenceId: string; tenant: string; target: Awaited<ReturnType<ModelCatalog['target']>>; prices: Parameters<typeof quoteFee>[0]; maxTokens: number; promptBound: number },
  ): AsyncGenerator<GenerateOutput> {
    const { inferenceId, tenant, target } = ctx;
    const adapterId = target.adapter?.id ?? '';
    const ended = this.metrics.requestStarted();
    let text = '';
    let done: DoneChunk | undefined;
    // The engine's part of the request, as a child span: from the first token asked to the summary.
    let generating: Span | undefined = traceContextEnabled()
      ? tracer().startSpan('inference.generate', { attributes: { 'opal.inference_id': inferenceId, 'opal.base_model': target.base.id, 'opal.engine': target.base.engine, 'opal.adapter': adapterId } })
      : undefined;
    const generated = (error?: unknown) => {
      if (done) generating?.setAttributes({ 'opal.prompt_tokens': done.usage.promptTokens, 'opal.completion_tokens': done.usage.completionTokens, 'opal.finish_reason': done.finishReason });
      if (error) generating?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      generating?.end();
      generating = undefined;
    };
    try {
      const stream = this.engines.generate(target, {
        prompt: input.prompt, maxTokens: ctx.maxTokens, temperature: input.temperature, topP: input.topP, topK: input.topK, seed: input.seed,
        stop: input.stop, signal: input.signal, deadline: input.deadline,
      });
      for await (const c of stream) {
        if (c.type === 'done') {
          done = c;
          break;
        }
        text += c.text;
        yield { type: 'text', text: c.text, tokenCount: c.tokenCount };
      }
      if (!done) throw new InferenceServiceError('ENGINE_FAILURE', 'the engine ended without a summary');
      generated();
      this.metrics.observe(target.base, done);
      // Output the engine produced is paid for, and attributed, whether the request ran to its end
      // or was cut (the client cancelled, the deadline passed): cutting a request just before its
      // end made it free. A request cut before any output costs nothing and records InferenceFailed.
      const completed = done.finishReason === 'stop' || done.finishReason === 'length' || done.usage.completionTokens > 0;
      // Charged on the tokens the hold was quoted on, at most: a tokenizer that spends more prompt
      // tokens than the bound (a dummy-prefix space), or an engine that reports more than it was
      // asked for, never takes more than the tenant's hold.
      const fee = quoteFee(ctx.prices, Math.min(done.usage.promptTokens, ctx.promptBound), Math.min(done.usage.completionTokens, ctx.maxTokens), this.platformFeeBps);
      const event: InferenceEvent = completed
        ? {
            type: 'InferenceCompleted',
            data: {
              inferenceId, tenant, adapterId, baseModelId: target.base.id, datanetVersions: target.adapter?.datanetVersions ?? [], outputText: text,
              retrievedContributions: input.retrievedContributions, usage: { promptTokens: done.usage.promptTokens, completionTokens: done.usage.completionTokens },
              fee: fee.quote, adapterOwner: target.adapter?.owner ?? '', finishReason: done.finishReason,
            },
          }
        : { type: 'InferenceFailed', data: { inferenceId, tenant, adapterId, reason: done.finishReason.toUpperCase(), detail: `${done.usage.completionTokens} tokens before the ${done.finishReason}` } };
      // The hold is settled only once the outcome is recorded: if recording fails, the append may
      // still have landed, and the hold is left to expire and be settled from the inference's stream.
      await this.record(inferenceId, event);
      // Settled before the summary goes out, so the caller's next request sees the fee, not the hold.
      await this.settle(tenant, inferenceId, completed ? fee.total : 0n);
      yield {
        type: 'summary',
        summary: { inferenceId, model: input.model, finishReason: done.finishReason, usage: done.usage, timings: done.timings, fee: completed ? fee.quote.total : '0' },
      };
    } catch (e) {
      generated(e);
      if (!done) {
        const err = e instanceof InferenceError ? new InferenceServiceError(engineCodes[e.code], e.message) : e;
        const reason = err instanceof InferenceServiceError ? err.code : 'ENGINE_FAILURE';
        const recorded = await this.record(inferenceId, { type: 'InferenceFailed', data: { inferenceId, tenant, adapterId, reason, detail: (e as Error).message } }).then(
          () => true,
          () => false,
        );
        if (recorded) await this.settle(tenant, inferenceId, 0n);
        throw err;
      }
      throw e;
    } finally {
      generated(); // a caller that stopped reading ends it here
      ended();
    }
  }

  private async settle(tenant: string, inferenceId: string, charged: bigint): Promise<void> {
    try {
      await this.holds.settle(tenant, inferenceId, charged);
    } catch (error) {
      this.logger.warn({ inferenceId, tenant, err: error }, 'balance hold not settled; the next hold after its expiry settles it from the inference stream');
    }
  }

  /**
   * Appends the inference's outcome as its stream's first event. An append whose answer was lost
   * (UNAVAILABLE: a produce timeout, the broker failing over) may have landed: the stream is read
   * to learn whether it holds this event (by its id), and the append is tried again only if the
   * stream is empty. Before, the client was answered a failure for an outcome the log held, and
   * charged for it once the hold expired: an HTTP client retrying the 503 paid twice.
   */
  private async record(inferenceId: string, event: InferenceEvent): Promise<void> {
    const stream = inferenceStream(inferenceId);
    const encoded = inferenceCodec.encode(event, this.clock.now(), { eventId: randomUUID().replace(/-/g, '') });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.log.append(stream, [encoded], { expectedVersion: 0, producer: 'inference' });
        break;
      } catch (error) {
        const lost = error instanceof EventLogError && error.code === 'UNAVAILABLE';
        if (!lost && !(error instanceof EventLogError && error.code === 'VERSION_CONFLICT')) throw error;
        const [first] = await this.log.readStream(stream, 1, 1).catch(() => [] as const);
        if (first?.eventId === encoded.eventId) break; // it landed
        // Another outcome is there (the hold expired and was closed), or the log is still away.
        if (first || !lost || attempt >= RECORD_ATTEMPTS) throw error;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
    this.logger.debug({ inferenceId, type: event.type }, 'inference recorded');
  }
}
