import type { EachBatchPayload, Producer } from 'kafkajs';
import { isTransient, type StoredEvent, type SubscribeOptions } from '@opal/event-log';
import { deadLetter } from './dead-letter.js';

export type DeliverySettings = {
  readonly deadLetterTopic: string;
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
};

/** Thrown inside a batch when this member lost the partition in a rebalance: stop, do not commit. */
export class Revoked extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Hands a subscription's batches to its handler until they go through. A failing batch is retried
 * with backoff; after `maxAttempts` its events are retried one by one and an event that still fails
 * goes to the dead-letter topic with the reason in its headers. Transient failures (a store or the
 * log away for now) do not count: an outage is waited out, its events are not poison. Between
 * attempts it gives up (Revoked) once the member no longer owns the batches' partitions.
 */
export class RetryingDelivery {
  private lastError: unknown;

  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    private readonly settings: DeliverySettings,
    private readonly options: SubscribeOptions,
    private readonly stopped: () => boolean,
  ) {}

  async deliver(events: StoredEvent[], payloads: readonly EachBatchPayload[]): Promise<void> {
    if (await this.attempt(events, payloads)) return;
    // The batch keeps failing: find the event(s) to blame, one at a time.
    for (const e of events) {
      if (events.length > 1 && (await this.attempt([e], payloads))) continue;
      const reason = String((this.lastError as Error)?.message ?? this.lastError);
      await deadLetter(this.producer, this.settings.deadLetterTopic, e, {
        reason,
        subscription: this.options.name,
        source: `${e.position.partition}@${e.position.offset}`,
        attempts: this.settings.maxAttempts,
      });
      this.options.onDeadLettered?.(e, reason);
    }
  }

  /** Runs the handler until it succeeds (true) or has failed maxAttempts times, transient failures aside (false). */
  private async attempt(events: StoredEvent[], payloads: readonly EachBatchPayload[]): Promise<boolean> {
    let backoff = this.settings.initialBackoffMs;
    for (let failures = 0; ; ) {
      try {
        await this.options.handler(events);
        return true;
      } catch (error) {
        this.options.onError?.(error, events);
        if (!isTransient(error) && ++failures >= this.settings.maxAttempts) {
          this.lastError = error;
          return false;
        }
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, this.settings.maxBackoffMs);
      if (this.stopped() || payloads.some((p) => !p.isRunning() || p.isStale())) throw new Revoked();
      await Promise.all(payloads.map((p) => p.heartbeat()));
    }
  }
}
