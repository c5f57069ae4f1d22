import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DoneChunk } from '@opal/lora-runtime';
import type { EngineStats, InferenceMetrics } from '../../application/inference.ports.js';
import type { ModelDoc } from '../../projections/models.projection.js';

const MAX_BASE_LABELS = 16;
const latency = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const perToken = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * Prometheus metrics named after vLLM's (time to first token, time per output token, e2e request
 * latency, queue time) under `opal_inference_`. Labels: base model (at most 16 values, then
 * "other"), engine and finish reason; never the adapter or the tenant, whose counts are unbounded.
 */
export class PrometheusInferenceMetrics implements InferenceMetrics {
  readonly registry = new Registry();
  private readonly bases = new Set<string>();
  private readonly ttft: Histogram<'base_model' | 'engine'>;
  private readonly tpot: Histogram<'base_model' | 'engine'>;
  private readonly duration: Histogram<'base_model' | 'engine' | 'finish_reason'>;
  private readonly queue: Histogram<'base_model' | 'engine'>;
  private readonly adapterLoad: Histogram<'base_model' | 'engine'>;
  private readonly promptTokens: Counter<'base_model' | 'engine'>;
  private readonly generationTokens: Counter<'base_model' | 'engine'>;
  private readonly refusals: Counter<'reason'>;
  private readonly running: Gauge;

  constructor(stats: () => EngineStats) {
    const r = this.registry;
    const labels = ['base_model', 'engine'] as const;
    this.ttft = new Histogram({ name: 'opal_inference_time_to_first_token_seconds', help: 'Time to first token, adapter load included', labelNames: labels, buckets: latency, registers: [r] });
    this.tpot = new Histogram({ name: 'opal_inference_time_per_output_token_seconds', help: 'Mean time per output token after the first', labelNames: labels, buckets: perToken, registers: [r] });
    this.duration = new Histogram({ name: 'opal_inference_e2e_request_latency_seconds', help: 'Request duration, end to end', labelNames: [...labels, 'finish_reason'], buckets: latency, registers: [r] });
    this.queue = new Histogram({ name: 'opal_inference_request_queue_time_seconds', help: 'Time waiting for an engine slot', labelNames: labels, buckets: latency, registers: [r] });
    this.adapterLoad = new Histogram({ name: 'opal_inference_adapter_load_seconds', help: 'Time waiting for the adapter to become resident', labelNames: labels, buckets: latency, registers: [r] });
    this.promptTokens = new Counter({ name: 'opal_inference_prompt_tokens_total', help: 'Prompt tokens processed', labelNames: labels, registers: [r] });
    this.generationTokens = new Counter({ name: 'opal_inference_generation_tokens_total', help: 'Tokens generated', labelNames: labels, registers: [r] });
    this.refusals = new Counter({ name: 'opal_inference_requests_refused_total', help: 'Requests refused before any work, by error code', labelNames: ['reason'], registers: [r] });
    this.running = new Gauge({ name: 'opal_inference_num_requests_running', help: 'Requests generating now', registers: [r] });
    const gauge = (name: string, help: string, pick: (s: EngineStats) => number) =>
      new Gauge({ name, help, registers: [r], collect() { this.set(pick(stats())); } });
    gauge('opal_inference_adapters_resident', 'Adapters resident in an engine', (s) => s.residentAdapters);
    gauge('opal_inference_adapters_loading', 'Adapters being loaded into an engine', (s) => s.loadingAdapters);
    gauge('opal_inference_num_requests_waiting_adapter', 'Requests waiting for their adapter to load', (s) => s.waitingRequests);
    collectDefaultMetrics({ register: r, prefix: 'opal_inference_' });
  }

  private base(id: string): string {
    if (this.bases.has(id)) return id;
    if (this.bases.size >= MAX_BASE_LABELS) return 'other';
    this.bases.add(id);
    return id;
  }

  requestStarted(): () => void {
    this.running.inc();
    let done = false;
    return () => {
      if (!done) this.running.dec();
      done = true;
    };
  }

  observe(base: ModelDoc, d: DoneChunk): void {
    const l = { base_model: this.base(base.id), engine: base.engine };
    const t = d.timings;
    if (t.timeToFirstTokenMs !== null) this.ttft.observe(l, t.timeToFirstTokenMs / 1000);
    if (t.tokensPerSecond > 0) this.tpot.observe(l, 1 / t.tokensPerSecond);
    this.duration.observe({ ...l, finish_reason: d.finishReason }, t.totalMs / 1000);
    this.queue.observe(l, t.queueMs / 1000);
    this.adapterLoad.observe(l, t.adapterLoadMs / 1000);
    this.promptTokens.inc(l, d.usage.promptTokens);
    this.generationTokens.inc(l, d.usage.completionTokens);
  }

  refused(reason: string): void {
    this.refusals.inc({ reason });
  }
}
