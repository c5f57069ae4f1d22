import { createHash } from 'node:crypto';
import { EventLogError, type EventLog, type StoredEvent } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { TypedEventCodec } from './typed-event-codec.js';

export type AggregateDefinition<S, E extends DomainEvent> = {
  readonly codec: TypedEventCodec<E>;
  /** State of a stream with no events. */
  initial(streamId: string): S;
  /**
   * Folds one event into the state. It may update the state in place (write models hold large
   * indexes), but must depend on the events alone: no clock, randomness or I/O.
   */
  evolve(state: S, event: RecordedEvent<E>): S;
};

export type CommandContext = {
  /** The command's clock reading, recorded as the events' occurred_at. */
  readonly now: number;
  /** When set, event ids derive from it, so a retried command yields the same ids. */
  readonly commandId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
};

type Entry<S> = { state: S; version: number };

/**
 * The write model: aggregates loaded from their streams and kept in memory. A command decides on
 * the cached state and its events are folded in at once, before the append reaches the disk, so
 * commands on one aggregate queue behind each other without waiting for fsync. The log reserves
 * sequence numbers synchronously, so the order of decisions is the order in the log. If an append
 * fails the aggregate is evicted and reloaded from the log by the next command.
 */
export class AggregateCache<S, E extends DomainEvent> {
  private readonly entries = new Map<string, Entry<S>>();
  private readonly loading = new Map<string, Promise<Entry<S>>>();

  constructor(
    private readonly log: EventLog,
    private readonly definition: AggregateDefinition<S, E>,
    private readonly producer: string,
  ) {}

  async load(streamId: string): Promise<Entry<S>> {
    const cached = this.entries.get(streamId);
    // A stream with no events is read again: another process may have started it since (a
    // Datanet created through another replica must not stay unknown here).
    if (cached && cached.version > 0) return cached;
    let pending = this.loading.get(streamId);
    if (!pending) {
      pending = this.readFromLog(streamId).finally(() => this.loading.delete(streamId));
      this.loading.set(streamId, pending);
    }
    return pending;
  }

  private async readFromLog(streamId: string): Promise<Entry<S>> {
    let state = this.definition.initial(streamId);
    let version = 0;
    for (const stored of await this.log.readStream(streamId)) {
      const e = this.definition.codec.decode(stored);
      if (e) state = this.definition.evolve(state, e);
      version = stored.streamSeq;
    }
    // One entry per stream: a command decided on the cached entry while this read ran holds events
    // the log may not show yet (not durable), so that entry stays; an empty one is filled in place.
    const cached = this.entries.get(streamId);
    if (cached && cached.version > 0) return cached;
    if (cached) {
      cached.state = state;
      cached.version = version;
      return cached;
    }
    const entry = { state, version };
    this.entries.set(streamId, entry);
    return entry;
  }

  /** Current state without running a command (for queries against the write model). */
  async peek(streamId: string): Promise<{ state: S; version: number }> {
    return this.load(streamId);
  }

  /**
   * Decides on the aggregate and appends. Several processes may run commands on one stream (the
   * replicas of a service): a process decided on the state it had cached, and another one appended
   * since, so the log refused the append. The command is then decided again on the stream as the
   * log has it, up to CONFLICT_ATTEMPTS times in all.
   */
  async execute<R>(
    streamId: string,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; stored: StoredEvent[] }> {
    return retryOnConflict(async () => {
      const { result, durable } = await this.decide(streamId, ctx, decide);
      return { result, stored: await durable };
    });
  }

  /**
   * Like execute, but resolves as soon as the decision is taken and its events are queued in the
   * log, with `durable` resolving once they are on disk. Callers that must keep an order between
   * commands (a client stream's items) chain on this, without waiting for each fsync.
   */
  async decide<R>(
    streamId: string,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> }> {
    const entry = await this.load(streamId);
    const { events, result } = decide(entry.state, entry.version);
    if (events.length === 0) return { result, durable: Promise.resolve([]) };
    const expected = entry.version;
    const encoded = events.map((e, i) =>
      this.definition.codec.encode(e, ctx.now, {
        eventId: ctx.commandId ? eventIdFrom(ctx.commandId, i) : undefined,
        correlationId: ctx.correlationId,
        causationId: ctx.causationId,
      }),
    );
    const appending = this.log.append(streamId, encoded, { expectedVersion: expected, producer: this.producer });
    events.forEach((e, i) => {
      const meta = { streamId, streamSeq: expected + i + 1, occurredAt: ctx.now, eventId: '' };
      entry.state = this.definition.evolve(entry.state, { ...e, meta } as RecordedEvent<E>);
    });
    entry.version = expected + events.length;
    const durable = appending.catch((error: unknown) => {
      if (this.entries.get(streamId) === entry) this.entries.delete(streamId);
      throw error;
    });
    return { result, durable };
  }

}

/** Attempts of a command whose appends lost to another process's (see AggregateCache.execute). */
export const CONFLICT_ATTEMPTS = 5;

/**
 * Runs `attempt` again while it fails with VERSION_CONFLICT, at most CONFLICT_ATTEMPTS times in all,
 * a few milliseconds apart (the winner's events must be readable before the next decision).
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof EventLogError && error.code === 'VERSION_CONFLICT') || n >= CONFLICT_ATTEMPTS) throw error;
    }
    await new Promise((r) => setTimeout(r, 5 * n));
  }
}

function eventIdFrom(commandId: string, index: number): string {
  return createHash('sha256').update(`${commandId}\u0000${index}`).digest('hex').slice(0, 32);
}
