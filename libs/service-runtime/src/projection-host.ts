import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, TransientError, type EventLog, type SubscribeOptions } from '@opal/event-log';
import { DOCUMENT_STORE, ProjectionRunner, sha256Hex, type DocumentStore, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { LOGGER } from './logger.js';
import { METRICS, ProcessMetrics } from './metrics.js';

/** A read model's digest; `version` is its projection's version, whose reducers built the documents. */
export type ProjectionDigest = { projection: string; service: string; version: number; digest: string; documents: number; appliedEvents: number };

/** The longest a query that found nothing waits for its read models before saying so (`caughtUpWithin`). */
export const CATCH_UP_WAIT_MS = 10_000;

const NEVER = new Promise<never>(() => {});

/** Runs every registered read model against the log, and reports their digests. */
@Injectable()
export class ProjectionHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly runners: { service: string; runner: ProjectionRunner<DomainEvent> }[] = [];
  private bootstrapped = false;
  private markFailed!: (failure: { projection: string; error: unknown }) => void;
  /**
   * Settles when a read model's subscription (or a reactor's, see subscriptionHooks) has stopped for
   * good: from then on it answers with stale state, or what the reactor writes stops coming, so
   * whoever runs the process should stop it and let its supervisor restart it.
   */
  readonly failed = new Promise<{ projection: string; error: unknown }>((resolve) => (this.markFailed = resolve));

  constructor(
    @Inject(EVENT_LOG) private readonly log: EventLog,
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) private readonly metrics: ProcessMetrics,
  ) {}

  register<E extends DomainEvent>(service: string, projection: Projection<E>): void {
    const name = projection.name;
    let running = true;
    const runner = new ProjectionRunner(this.log, this.store, projection as unknown as Projection<DomainEvent>, {
      onError: (error) => {
        this.metrics.projectionFailed(name);
        this.logger.error({ err: error, projection: name }, 'projection batch failed; retrying');
      },
      onFailed: (error) => {
        running = false;
        this.logger.fatal({ err: error, projection: name }, 'projection stopped: the log no longer delivers to it');
        this.markFailed({ projection: name, error });
      },
      onCommitted: (b) => this.metrics.projectionCommitted(name, b.events, b.seconds),
      onRebuild: (v) => this.logger.warn({ projection: name, storedVersion: v.stored, version: v.current }, 'read model built by another version of its projection; building it again from offset zero'),
      onDeadLettered: (event, reason) => {
        this.metrics.projectionDeadLettered(name);
        this.logger.error({ projection: name, streamId: event.streamId, streamSeq: event.streamSeq, type: event.type, reason }, 'event set aside in the dead-letter topic');
      },
    });
    this.metrics.watchProjection({ name, lag: () => runner.lag(), get running() { return running; } });
    this.runners.push({ service, runner });
    if (this.bootstrapped) void runner.start();
  }

  /**
   * The failure handling of a subscription that is not a read model's (a reactor's): one that stops
   * for good fails the process as a read model does (see failed), since what it writes would stop
   * coming; an event it sets aside is logged and counted as a read model's is.
   */
  subscriptionHooks(name: string): Pick<SubscribeOptions, 'onFailed' | 'onDeadLettered'> {
    return {
      onFailed: (error) => {
        this.logger.fatal({ err: error, subscription: name }, 'subscription stopped: the log no longer delivers to it');
        this.markFailed({ projection: name, error });
      },
      onDeadLettered: (event, reason) => {
        this.metrics.projectionDeadLettered(name);
        this.logger.error({ subscription: name, streamId: event.streamId, streamSeq: event.streamSeq, type: event.type, reason }, 'event set aside in the dead-letter topic');
      },
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    this.bootstrapped = true;
    try {
      await Promise.all(this.runners.map((r) => r.runner.start()));
    } finally {
      this.startedNow();
    }
  }

  private startedNow!: () => void;
  /** Resolves once the read models' subscriptions have started (the application's bootstrap). */
  readonly started = new Promise<void>((resolve) => (this.startedNow = resolve));

  /** Whether this process runs any read model of `service`. */
  hosts(service: string): boolean {
    return this.runners.some((r) => r.service === service);
  }

  /** Waits until the read models (of `service`, or all) have applied everything in the log when called. */
  async caughtUp(service?: string): Promise<void> {
    await Promise.all(this.runners.filter((r) => !service || r.service === service).map((r) => r.runner.caughtUp()));
  }

  /**
   * What a query waits on before it answers that something does not exist: `service`'s read models
   * (every one this process runs when undefined) caught up with the log as it is now, so what a
   * client wrote a moment ago is found whichever mode runs (embedded or scaled out) and whichever
   * process applies it. At most `withinMs`: a read model that stalls (its store away, a batch
   * retried) makes the query answer from what it has. True when they caught up.
   */
  async caughtUpWithin(service: string | undefined, withinMs = CATCH_UP_WAIT_MS): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, withinMs, false)));
    // A log whose servers do not answer now is no use waiting on: its client would retry past the bound.
    const away = this.log.reachable ? this.log.reachable().then((up) => (up ? NEVER : false), () => NEVER) : NEVER;
    try {
      return await Promise.race([this.caughtUp(service).then(() => true, () => false), late, away]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `read()`, and once more after `caughtUpWithin(service)` when it found nothing. Read models that
   * could not be seen caught up (the broker away, a read model stalled) cannot say that something
   * does not exist: that is a TransientError (UNAVAILABLE, try again), not a miss.
   */
  async readCaughtUp<T>(service: string, read: () => Promise<T | undefined>, withinMs = CATCH_UP_WAIT_MS): Promise<T | undefined> {
    const found = await read();
    if (found !== undefined) return found;
    const caughtUp = await this.caughtUpWithin(service, withinMs);
    const again = await read();
    if (again !== undefined || caughtUp) return again;
    throw new TransientError(`${service}'s read models were not seen caught up with the log (its servers do not answer, or not within ${withinMs} ms), so whether it exists cannot be told now; try again`);
  }

  async digests(service?: string): Promise<{ digest: string; projections: ProjectionDigest[] }> {
    await this.caughtUp(service);
    const out: ProjectionDigest[] = [];
    const selected = this.runners.filter((r) => !service || r.service === service);
    for (const { service: s, runner } of selected.sort((a, b) => a.runner.projection.name.localeCompare(b.runner.projection.name))) {
      out.push(await projectionDigest(this.store, s, runner.projection, runner.appliedEvents));
    }
    return { digest: combineDigests(out), projections: out };
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.runner.stop()));
  }
}

export async function projectionDigest(
  store: DocumentStore,
  service: string,
  projection: Projection<DomainEvent>,
  appliedEvents: number,
): Promise<ProjectionDigest> {
  let documents = 0;
  const parts: string[] = [];
  for (const c of projection.collections) {
    const d = await store.digest(c.name);
    documents += d.documents;
    parts.push(`${c.name}:${d.digest}`);
  }
  return { projection: projection.name, service, version: projection.version ?? 1, digest: sha256Hex(parts.join('\n')), documents, appliedEvents };
}

/** The state digest: one hash over every projection's digest, in name order. */
export function combineDigests(digests: readonly ProjectionDigest[]): string {
  return sha256Hex([...digests].sort((a, b) => a.projection.localeCompare(b.projection)).map((d) => `${d.projection}:${d.digest}`).join('\n'));
}
