import { createHash } from 'node:crypto';
import { toHex, type EventLog, type StoredEvent } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { TypedEventCodec } from './typed-event-codec.js';
import { foldInto, SharedDecisions, type Entry } from './shared-decisions.js';
import type { SnapshotStore } from './aggregate-snapshots.js';
import { retryOnConflict } from './retry-on-conflict.js';

export type AggregateDefinition<S, E extends DomainEvent> = {
  readonly codec: TypedEventCodec<E>;
  /** State of a stream with no events. */
  initial(streamId: string): S;
  /**
   * Folds one event into the state. It may update the state in place (write models hold large
   * indexes), but must depend on the events alone: no clock, randomness or I/O.
   */
  evolve(state: S, event: RecordedEvent<E>): S;
  /**
   * Snapshots, for an aggregate whose stream grows long while its state stays small (a tenant's
   * stream takes two events per inference; its state keeps the open holds only). A load then folds
   * only the events after the stream's snapshot, and saves a new one when it folded `every` or more.
   * `schema` changes with the encoding or with what evolve derives: a snapshot of another is not read.
   */
  readonly snapshot?: {
    readonly schema: number;
    readonly every: number;
    encode(state: S): Uint8Array;
    decode(bytes: Uint8Array, streamId: string): S;
  };
  /**
   * About how many bytes of memory a state holds, for a cache with a memory budget
   * (AggregateCacheOptions.memoryBudgetBytes); DEFAULT_WEIGHT when not given.
   */
  weight?(state: S): number;
};

/** What a state weighs in a cache's budget when its definition gives no weight. */
export const DEFAULT_WEIGHT = 4096;

export type AggregateCacheOptions = {
  /** Where snapshots are kept (for a definition that has `snapshot`). */
  readonly snapshots?: SnapshotStore;
  /** A snapshot could not be read or saved: the aggregate is loaded from its whole stream instead. */
  readonly onSnapshotError?: (error: unknown, streamId: string) => void;
  /**
   * The most memory the cached aggregates may hold together, by their definition's weight. Past it,
   * the least recently used ones with no command under way are dropped, and loaded again (from their
   * snapshot and stream) when next used; the one used last always stays. Unset: none are dropped.
   */
  readonly memoryBudgetBytes?: number;
  /** An aggregate was dropped to keep within the budget. */
  readonly onDropped?: (streamId: string, weight: number) => void;
  /**
   * On a log with concurrent writers: how long a stream that lost a race goes without deciding
   * commands ahead of its append in flight, at first (doubling while races keep coming); read at
   * each lost race. Default CONTENDED_MS, for processes that keep racing for the same streams.
   */
  readonly contendedMs?: () => number;
};

export type CommandContext = {
  /** The command's clock reading, recorded as the events' occurred_at. */
  readonly now: number;
  /** When set, event ids derive from it, so a retried command yields the same ids. */
  readonly commandId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
};

/** Events of a stream read at once when an aggregate loads. */
const READ_PAGE = 10_000;

/**
 * The write model: aggregates loaded from their streams and kept in memory.
 *
 * On a log of one process (embedded) a command decides on the cached state and its events are
 * folded in at once, before the append reaches the disk, so commands on one aggregate queue behind
 * each other without waiting for fsync. The log reserves sequence numbers synchronously, so the
 * order of decisions is the order in the log. If an append fails the aggregate is evicted and
 * reloaded from the log by the next command.
 *
 * On a log with concurrent writers (Kafka, the replicas of a service) the commands of one aggregate
 * are decided one at a time in this process. A command with no append of this process in flight
 * on the stream has its events folded in only once the log has taken them: when another process
 * won the race to the stream, the cached state is still the stream as the log had it, and reading
 * just the events it missed brings it up to date (a Datanet's stream grows by two events per
 * contribution, too long to read again at every lost race). Commands that come while an append is
 * in flight are decided on top of it and appended together after it (SharedDecisions); a command
 * decided on events that then lose the race is never appended, but decided again.
 */
export class AggregateCache<S, E extends DomainEvent> {
  private readonly entries = new Map<string, Entry<S, E>>();
  private readonly loading = new Map<string, Promise<Entry<S, E>>>();
  /** The version of each stream's latest snapshot this process loaded or saved. */
  private readonly snapshotAt = new Map<string, number>();
  /** With a memory budget: the sum of the cached aggregates' weights (Entry.weight). */
  private weighed = 0;
  /** Commands under way per stream (decided or deciding, not yet in the log or failed). */
  private readonly underWay = new Map<string, number>();
  private readonly shared: SharedDecisions<S, E>;

  constructor(
    private readonly log: EventLog,
    private readonly definition: AggregateDefinition<S, E>,
    private readonly producer: string,
    private readonly options: AggregateCacheOptions = {},
  ) {
    this.shared = new SharedDecisions<S, E>({
      load: (streamId) => this.load(streamId),
      holds: (streamId, entry) => this.entries.get(streamId) === entry,
      catchUp: async (streamId, entry) => void (await this.catchUp(streamId, entry)),
      evict: (streamId, entry) => this.evict(streamId, entry),
      encode: (events, ctx) => this.encode(events, ctx),
      evolve: (state, event) => definition.evolve(state, event),
      append: (streamId, events, expectedVersion) => log.append(streamId, events, { expectedVersion, producer }),
    }, options.contendedMs);
  }

  async load(streamId: string): Promise<Entry<S, E>> {
    const cached = this.entries.get(streamId);
    // A stream with no events is read again: another process may have started it since (a
    // Datanet created through another replica must not stay unknown here).
    if (cached && cached.version > 0) {
      this.used(streamId, cached);
      return cached;
    }
    let pending = this.loading.get(streamId);
    if (!pending) {
      pending = this.readFromLog(streamId).finally(() => this.loading.delete(streamId));
      this.loading.set(streamId, pending);
      if (this.options.memoryBudgetBytes !== undefined) {
        void pending.then(
          (entry) => this.reweigh(streamId, entry),
          () => {},
        );
      }
    }
    return pending;
  }

  /** Marks the stream's aggregate the latest used (the last the budget drops). */
  private used(streamId: string, entry: Entry<S, E>): void {
    if (this.options.memoryBudgetBytes === undefined) return;
    this.entries.delete(streamId);
    this.entries.set(streamId, entry);
  }

  /** Weighs the stream's aggregate again (it loaded, or a command changed it), then keeps within the budget. */
  private reweigh(streamId: string, entry: Entry<S, E>): void {
    const budget = this.options.memoryBudgetBytes;
    if (budget === undefined || this.entries.get(streamId) !== entry) return;
    const weight = this.definition.weight?.(entry.state) ?? DEFAULT_WEIGHT;
    this.weighed += weight - (entry.weight ?? 0);
    entry.weight = weight;
    if (this.weighed <= budget) return;
    // Least recently used first (the map's order); never the one used last, nor one with a command under way.
    for (const [id, e] of this.entries) {
      if (this.weighed <= budget) return;
      if (id === streamId || this.underWay.has(id) || e.sending || e.open || e.settling) continue;
      this.entries.delete(id);
      this.weighed -= e.weight ?? 0;
      this.options.onDropped?.(id, e.weight ?? 0);
    }
  }

  /** The weight of the aggregates cached now, as last measured (with a memory budget). */
  get cachedWeight(): number {
    return this.weighed;
  }

  private async readFromLog(streamId: string): Promise<Entry<S, E>> {
    const read: Entry<S, E> = (await this.fromSnapshot(streamId)) ?? { state: this.definition.initial(streamId), version: 0 };
    const { folded, last } = await this.catchUp(streamId, read);
    const { state, version } = read;
    // Encoded now, before any command folds more into the state (evolve may update it in place).
    if (last && folded >= (this.definition.snapshot?.every ?? Infinity)) await this.saveSnapshot(streamId, state, last);
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

  /** The stream's snapshot, if there is one of this schema and the log still holds the event it was taken at. */
  private async fromSnapshot(streamId: string): Promise<{ state: S; version: number } | undefined> {
    const spec = this.definition.snapshot;
    const store = this.options.snapshots;
    if (!spec || !store) return undefined;
    try {
      const snapshot = await store.load(streamId);
      if (!snapshot || snapshot.schema !== spec.schema) return undefined;
      const [at] = await this.log.readStream(streamId, snapshot.streamVersion, 1);
      if (!at || at.streamSeq !== snapshot.streamVersion || toHex(at.hash) !== snapshot.hash) return undefined;
      const state = spec.decode(snapshot.state, streamId);
      this.snapshotAt.set(streamId, snapshot.streamVersion);
      return { state, version: snapshot.streamVersion };
    } catch (error) {
      // A snapshot only saves reading: the stream has it all.
      this.options.onSnapshotError?.(error, streamId);
      return undefined;
    }
  }

  private async saveSnapshot(streamId: string, state: S, last: StoredEvent): Promise<void> {
    const spec = this.definition.snapshot;
    const store = this.options.snapshots;
    if (!spec || !store) return;
    this.snapshotAt.set(streamId, last.streamSeq);
    try {
      await store.save(streamId, { schema: spec.schema, streamVersion: last.streamSeq, hash: toHex(last.hash), state: spec.encode(state) });
    } catch (error) {
      this.options.onSnapshotError?.(error, streamId);
    }
  }

  /**
   * After a command's events are in the log: a snapshot, once `every` events lie past the stream's
   * last one, if the cached state is exactly the log up to them (no later command folded in yet,
   * whose events may still fail), so a process that stays up keeps its streams' snapshots recent.
   */
  private snapshotAfter(streamId: string, stored: readonly StoredEvent[]): void {
    const last = stored.at(-1);
    const entry = this.entries.get(streamId);
    if (!last || !entry || entry.version !== last.streamSeq) return;
    if (last.streamSeq - (this.snapshotAt.get(streamId) ?? 0) < this.definition.snapshot!.every) return;
    void this.saveSnapshot(streamId, entry.state, last); // encodes now, before anything folds more in
  }

  /**
   * Takes in what other processes appended to the stream since this process last read it (on a log
   * with concurrent writers; on a log of one process the cache is the stream). For a caller that
   * must not act on a stale state without a command to append, such as a refusal.
   */
  async refresh(streamId: string): Promise<void> {
    if (this.log.concurrentWriters) await this.shared.refresh(streamId);
  }

  /** Current state without running a command (for queries against the write model). */
  async peek(streamId: string): Promise<{ state: S; version: number }> {
    return this.load(streamId);
  }

  /**
   * Decides on the aggregate and appends. Several processes may run commands on one stream (the
   * replicas of a service): a process decided on the state it had cached, and another one appended
   * since, so the log refused the append. The command is then decided again on the stream as the
   * log has it, until it goes through or retryOnConflict gives up.
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
    if (this.options.memoryBudgetBytes === undefined) return this.runDecision(streamId, ctx, decide);
    this.underWay.set(streamId, (this.underWay.get(streamId) ?? 0) + 1);
    const done = () => {
      const left = this.underWay.get(streamId)! - 1;
      if (left > 0) this.underWay.set(streamId, left);
      else this.underWay.delete(streamId);
      const entry = this.entries.get(streamId);
      if (entry) this.reweigh(streamId, entry);
    };
    try {
      const decided = await this.runDecision(streamId, ctx, decide);
      decided.durable.then(done, done);
      return decided;
    } catch (error) {
      done();
      throw error;
    }
  }

  /** The decision on this log's terms (shared with other processes' or not), and the snapshot after it. */
  private async runDecision<R>(
    streamId: string,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> }> {
    const decided = this.log.concurrentWriters ? await this.shared.decide(streamId, ctx, decide) : await this.decideHere(streamId, ctx, decide);
    if (this.definition.snapshot && this.options.snapshots) decided.durable.then((stored) => this.snapshotAfter(streamId, stored), () => {});
    return decided;
  }

  private async decideHere<R>(
    streamId: string,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> }> {
    const entry = await this.load(streamId);
    const { events, result } = decide(entry.state, entry.version);
    if (events.length === 0) return { result, durable: Promise.resolve([]) };
    const appending = this.log.append(streamId, this.encode(events, ctx), { expectedVersion: entry.version, producer: this.producer });
    foldInto((state, event) => this.definition.evolve(state, event), streamId, entry, events, ctx.now);
    const durable = appending.catch((error: unknown) => {
      this.evict(streamId, entry);
      throw error;
    });
    return { result, durable };
  }

  /**
   * A stream's events from `fromSeq`, read a page at a time: a long stream (a Datanet's grows by two
   * events per contribution) is folded without holding all its events at once.
   */
  private async *eventsFrom(streamId: string, fromSeq: number): AsyncGenerator<StoredEvent> {
    for (let seq = fromSeq; ; ) {
      const page = await this.log.readStream(streamId, seq, READ_PAGE);
      yield* page;
      if (page.length < READ_PAGE) return;
      seq = page[page.length - 1]!.streamSeq + 1;
    }
  }

  /** Folds in the stream's events past the entry's version; says how many, and the last one. */
  private async catchUp(streamId: string, entry: Entry<S, E>): Promise<{ folded: number; last: StoredEvent | undefined }> {
    let folded = 0;
    let last: StoredEvent | undefined;
    for await (const stored of this.eventsFrom(streamId, entry.version + 1)) {
      if (stored.streamSeq <= entry.version) continue; // taken in by another read meanwhile
      const e = this.definition.codec.decode(stored);
      if (e) entry.state = this.definition.evolve(entry.state, e);
      entry.version = stored.streamSeq;
      last = stored;
      folded++;
    }
    return { folded, last };
  }

  private evict(streamId: string, entry: Entry<S, E>): void {
    if (this.entries.get(streamId) !== entry) return;
    this.entries.delete(streamId);
    this.weighed -= entry.weight ?? 0;
  }

  private encode(events: readonly E[], ctx: CommandContext) {
    return events.map((e, i) =>
      this.definition.codec.encode(e, ctx.now, {
        eventId: ctx.commandId ? eventIdFrom(ctx.commandId, i) : undefined,
        correlationId: ctx.correlationId,
        causationId: ctx.causationId,
      }),
    );
  }
}

function eventIdFrom(commandId: string, index: number): string {
  return createHash('sha256').update(`${commandId}\u0000${index}`).digest('hex').slice(0, 32);
}
