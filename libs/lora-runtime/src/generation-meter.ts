import type { DoneChunk, FinishReason } from './inference-engine.port.js';

/** Collects the usage and timings every engine reports the same way. */
export class GenerationMeter {
  private readonly start = performance.now();
  private queuedUntil: number | null = null;
  private firstToken: number | null = null;
  private lastToken: number | null = null;
  promptTokens = 0;
  completionTokens = 0;

  constructor(private readonly adapterLoadMs = 0) {}

  dequeued(): void {
    this.queuedUntil = performance.now();
  }
  token(n = 1): void {
    const now = performance.now();
    this.firstToken ??= now;
    this.lastToken = now;
    this.completionTokens += n;
  }
  firstChunk(): void {
    this.firstToken ??= performance.now();
  }

  done(finishReason: FinishReason, stopTokens = 0): DoneChunk {
    const end = performance.now();
    const genMs = this.firstToken !== null && this.lastToken !== null ? this.lastToken - this.firstToken : 0;
    // The first token's own latency is in TTFT; the rate is over the tokens after it.
    const rate = this.completionTokens > 1 && genMs > 0 ? ((this.completionTokens - 1) * 1000) / genMs : 0;
    return {
      type: 'done',
      finishReason,
      stopTokens,
      usage: { promptTokens: this.promptTokens, completionTokens: this.completionTokens, totalTokens: this.promptTokens + this.completionTokens },
      timings: {
        queueMs: (this.queuedUntil ?? end) - this.start,
        adapterLoadMs: this.adapterLoadMs,
        timeToFirstTokenMs: this.firstToken === null ? null : this.firstToken - this.start + this.adapterLoadMs,
        totalMs: end - this.start + this.adapterLoadMs,
        tokensPerSecond: rate,
      },
    };
  }
}
