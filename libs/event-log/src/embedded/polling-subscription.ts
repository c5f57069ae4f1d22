import type { StoredEvent } from '../envelope.js';
import type { Cursor, Subscription } from '../event-log.port.js';

/**
 * Delivers a single ordered partition to a handler in batches, waking on new durable records,
 * retrying a failed batch with backoff (at-least-once), and optionally saving a checkpoint.
 */
export class PollingSubscription implements Subscription {
  private next: number;
  private running = false;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private waiters: { target: number; resolve: () => void }[] = [];
  private loop: Promise<void> | undefined;
  private readonly stopHooks: (() => void)[] = [];

  /** Where it starts: an offset, or a call that gives one (retried with backoff until it does). */
  private readonly startAt: (() => Promise<number>) | undefined;

  constructor(
    start: number | (() => Promise<number>),
    private readonly batchSize: number,
    private readonly readRange: (from: number, limit: number) => StoredEvent[],
    private readonly head: () => number,
    private readonly handler: (events: StoredEvent[]) => Promise<void> | void,
    private readonly saveCheckpoint: ((next: number) => void) | undefined,
    private readonly onError: ((error: unknown, events: StoredEvent[]) => void) | undefined,
    /** Which streams' events go to the handler (all when undefined); the others are passed over. */
    private readonly wanted: ((streamId: string) => boolean) | undefined = undefined,
  ) {
    this.next = typeof start === 'number' ? start : 0;
    this.startAt = typeof start === 'number' ? undefined : start;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  onStop(hook: () => void): void {
    this.stopHooks.push(hook);
  }

  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    let backoff = 10;
    for (let found = !this.startAt; !found && !this.stopped; ) {
      try {
        this.next = await this.startAt!();
        found = true;
      } catch (error) {
        this.onError?.(error, []);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    backoff = 10;
    while (!this.stopped) {
      const batch = this.readRange(this.next, this.batchSize);
      if (batch.length === 0) {
        this.settleWaiters();
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
          if (this.head() > this.next || this.stopped) resolve();
        });
        this.wakeUp = undefined;
        continue;
      }
      const wanted = this.wanted;
      const delivered = wanted ? batch.filter((e) => wanted(e.streamId)) : batch;
      try {
        if (delivered.length > 0) await this.handler(delivered);
        backoff = 10;
      } catch (error) {
        this.onError?.(error, delivered);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      this.next += batch.length;
      this.saveCheckpoint?.(this.next);
      this.settleWaiters();
    }
    this.running = false;
  }

  private settleWaiters(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.next >= w.target) w.resolve();
      return this.next < w.target;
    });
  }

  caughtUp(): Promise<void> {
    const target = this.head();
    if (this.next >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  cursor(): Cursor {
    return { log: this.next };
  }

  /** One process holds the embedded log: its position is everyone's. */
  async sharedCursor(): Promise<Cursor> {
    return this.cursor();
  }

  async lag(): Promise<number> {
    return Math.max(0, this.head() - this.next);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
    for (const h of this.stopHooks) h();
    for (const w of this.waiters) w.resolve();
  }
}
