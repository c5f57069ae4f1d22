import { createHash } from 'node:crypto';
import { EventLogError, type EventLog, type NewEvent, type StoredEvent } from '@opal/event-log';
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

/** Events of a stream read at once when an aggregate loads. */
const READ_PAGE = 10_000;

/** Events of commands decided ahead of an append in flight, at most, before further decisions wait for it. */
const MAX_GROUP_EVENTS = 2000;
/** How long a stream that lost a race to another process is run without deciding ahead (doubling up to MAX_CONTENDED_MS). */
const CONTENDED_MS = 60_000;
const MAX_CONTENDED_MS = 3_600_000;

type Entry<S, E> = {
  state: S;
  version: number;
  /** On a log with concurrent writers: settles once the entry's last decision is taken. */
  turn?: Promise<void>;
  /** This process's append in flight on the stream. */
  sending?: Group<E>;
  /** Commands decided on top of `sending` (its events folded in), appended together after it. */
  open?: Group<E>;
  /** The events of a race lost to another process being read in; decisions wait for it. */
  settling?: Promise<void>;
};

/** A decided command waiting for the log: its encoded events, the events to fold in, and its outcome. */
type Queued<E> = {
  readonly encoded: NewEvent[];
  readonly events: readonly E[];
  readonly now: number;
  readonly durable: Promise<StoredEvent[]>;
  resolve(stored: StoredEvent[]): void;
  reject(error: unknown): void;
};

function queued<E>(encoded: NewEvent[], events: readonly E[], now: number): Queued<E> {
  let resolve!: (stored: StoredEvent[]) => void;
  let reject!: (error: unknown) => void;
  const durable = new Promise<StoredEvent[]>((res, rej) => ((resolve = res), (reject = rej)));
  return { encoded, events, now, durable, resolve, reject };
}

/** Commands appended as one, at `expected`; `folded` once their events are in the entry's state. */
type Group<E> = {
  readonly expected: number;
  readonly commands: Queued<E>[];
  events: number;
  folded: boolean;
  /** Resolves once the log took the group, rejects if it did not. */
  readonly outcome: Promise<void>;
  /** Resolves once the group's outcome is handled, either way. */
  readonly settled: Promise<void>;
  add(command: Queued<E>): void;
  succeed(stored: readonly StoredEvent[]): void;
  fail(error: unknown): void;
};

function group<E>(expected: number, folded: boolean): Group<E> {
  let done!: () => void;
  let ok!: () => void;
  let refused!: (e: unknown) => void;
  const settled = new Promise<void>((r) => (done = r));
  const outcome = new Promise<void>((res, rej) => ((ok = res), (refused = rej)));
  outcome.catch(() => {}); // awaited only by decisions taken on the group; a failure is theirs
  const g: Group<E> = {
    expected,
    commands: [],
    events: 0,
    folded,
    outcome,
    settled,
    add(command) {
      g.commands.push(command);
      g.events += command.events.length;
    },
    succeed(stored) {
      let at = 0;
      for (const c of g.commands) {
        c.resolve(stored.slice(at, at + c.events.length));
        at += c.events.length;
      }
      ok();
      done();
    },
    fail(error) {
      for (const c of g.commands) c.reject(error);
      refused(error);
      done();
    },
  };
  return g;
}

/** The refusal of commands decided on events of this process that the log did not take. */
function lostWith(streamId: string): EventLogError {
  return new EventLogError('VERSION_CONFLICT', `stream ${streamId}: decided on events of this process that lost a race to another writer`);
}

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
 * in flight are decided on top of it and appended together after it (see decideShared); a command
 * decided on events that then lose the race is never appended, but decided again.
 */
export class AggregateCache<S, E extends DomainEvent> {
  private readonly entries = new Map<string, Entry<S, E>>();
  private readonly loading = new Map<string, Promise<Entry<S, E>>>();
  /** Streams where this process lost a race to another writer: until when it decides no command ahead there. */
  private readonly races = new Map<string, { until: number; backoff: number }>();

  constructor(
    private readonly log: EventLog,
    private readonly definition: AggregateDefinition<S, E>,
    private readonly producer: string,
  ) {}

  async load(streamId: string): Promise<Entry<S, E>> {
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

  private async readFromLog(streamId: string): Promise<Entry<S, E>> {
    let state = this.definition.initial(streamId);
    let version = 0;
    for await (const stored of this.eventsFrom(streamId, 1)) {
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

  /**
   * Takes in what other processes appended to the stream since this process last read it (on a log
   * with concurrent writers; on a log of one process the cache is the stream). For a caller that
   * must not act on a stale state without a command to append, such as a refusal.
   */
  async refresh(streamId: string): Promise<void> {
    if (!this.log.concurrentWriters) return;
    for (;;) {
      const entry = await this.load(streamId);
      const release = await this.takeTurn(entry);
      try {
        // This process's own appends first (an entry evicted meanwhile is read again whole).
        if (!(await this.drained(streamId, entry))) continue;
        await this.catchUp(streamId, entry);
        return;
      } finally {
        release();
      }
    }
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
    if (this.log.concurrentWriters) return this.decideShared(streamId, ctx, decide);
    const entry = await this.load(streamId);
    const { events, result } = decide(entry.state, entry.version);
    if (events.length === 0) return { result, durable: Promise.resolve([]) };
    const expected = entry.version;
    const appending = this.log.append(streamId, this.encode(events, ctx), { expectedVersion: expected, producer: this.producer });
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

  /**
   * A command on a log with concurrent writers. Decisions on one stream run one at a time, in call
   * order. With no append of this process in flight the command is appended alone and its events
   * are folded in once the log has taken them, so a lost race costs only a read of what the other
   * process appended. A command decided while an append is in flight is decided on top of it: that
   * append's events are folded in at once, and the commands decided meanwhile go to the log
   * together, as one append, when it returns. If an append folded in early loses its race, the
   * state holds events the log does not: the aggregate is evicted (read again by the next command)
   * and every command decided on it fails with VERSION_CONFLICT, to be decided again. A stream
   * where that happened is then run without deciding ahead for a while (CONTENDED_MS, doubling while
   * races keep coming), since reading a long stream again at every lost race would cost more than
   * the round trips saved.
   */
  private async decideShared<R>(
    streamId: string,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> }> {
    for (;;) {
      const entry = await this.load(streamId);
      const release = await this.takeTurn(entry);
      try {
        const outcome = await this.decideInTurn(streamId, entry, ctx, decide);
        if (outcome) return outcome;
      } finally {
        release();
      }
    }
  }

  /** Waits for the entry's earlier decisions, in call order; the returned function ends this one's turn. */
  private async takeTurn(entry: Entry<S, E>): Promise<() => void> {
    const before = entry.turn ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    entry.turn = before.then(() => mine);
    await before;
    return release;
  }

  /** The decision, on the entry as this process has it; undefined when the entry was evicted meanwhile (decide on a fresh one). */
  private async decideInTurn<R>(
    streamId: string,
    entry: Entry<S, E>,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> } | undefined> {
    if (!(await this.readyToDecide(streamId, entry))) return undefined;
    let decided: { readonly events: readonly E[]; readonly result: R };
    try {
      decided = decide(entry.state, entry.version);
    } catch {
      // A refusal stands only on the stream as the log has it: this process's appends first, then
      // what other processes appended.
      if (!(await this.drained(streamId, entry))) return undefined;
      await this.catchUp(streamId, entry);
      decided = decide(entry.state, entry.version);
    }
    const { events, result } = decided;
    const ahead = entry.open ?? (entry.sending?.folded ? entry.sending : undefined);
    if (events.length === 0) {
      // Decided on events of this process the log has yet to take: it stands once they are taken.
      return { result, durable: ahead ? ahead.outcome.then(() => [], () => Promise.reject(lostWith(streamId))) : Promise.resolve([]) };
    }
    const command = queued(this.encode(events, ctx), events, ctx.now);
    if (!entry.sending) {
      const alone = group<E>(entry.version, false);
      alone.add(command);
      this.send(streamId, entry, alone);
    } else {
      const next = (entry.open ??= group<E>(entry.version, true));
      next.add(command);
      this.fold(streamId, entry, events, ctx.now);
    }
    return { result, durable: command.durable };
  }

  /**
   * Until the entry may take a decision: a lost race being taken in, an append in flight on a
   * contended stream, or a full group ahead are waited for. An append in flight otherwise has its
   * events folded in, so the decision sees them. False if the entry was evicted meanwhile.
   */
  private async readyToDecide(streamId: string, entry: Entry<S, E>): Promise<boolean> {
    for (;;) {
      if (this.entries.get(streamId) !== entry) return false;
      if (entry.settling) {
        await entry.settling;
        continue;
      }
      const sending = entry.sending;
      if (sending && !sending.folded) {
        if (this.contended(streamId) || entry.version !== sending.expected) {
          await sending.settled;
          continue;
        }
        for (const c of sending.commands) this.fold(streamId, entry, c.events, c.now);
        sending.folded = true;
      }
      if (sending && entry.open && entry.open.events >= MAX_GROUP_EVENTS) {
        await sending.settled;
        continue;
      }
      return true;
    }
  }

  /** Until this process has nothing in flight on the entry; false if it was evicted meanwhile. */
  private async drained(streamId: string, entry: Entry<S, E>): Promise<boolean> {
    for (;;) {
      if (this.entries.get(streamId) !== entry) return false;
      const waiting = entry.settling ?? entry.sending?.settled;
      if (!waiting) return true;
      await waiting;
    }
  }

  /** Folds a decided command's events into the entry, as the log will number them. */
  private fold(streamId: string, entry: Entry<S, E>, events: readonly E[], now: number, stored?: readonly StoredEvent[]): void {
    const base = entry.version;
    events.forEach((e, i) => {
      const meta = { streamId, streamSeq: base + i + 1, occurredAt: now, eventId: stored?.[i]?.eventId ?? '' };
      entry.state = this.definition.evolve(entry.state, { ...e, meta } as RecordedEvent<E>);
    });
    entry.version = base + events.length;
  }

  /** Appends a group of commands as one; when it returns, sends the group decided meanwhile. */
  private send(streamId: string, entry: Entry<S, E>, g: Group<E>): void {
    entry.sending = g;
    const events = g.commands.flatMap((c) => c.encoded);
    this.log.append(streamId, events, { expectedVersion: g.expected, producer: this.producer }).then(
      (stored) => {
        entry.sending = undefined;
        if (!g.folded) {
          if (entry.version === g.expected) {
            let at = 0;
            for (const c of g.commands) {
              this.fold(streamId, entry, c.events, c.now, stored.slice(at, at + c.events.length));
              at += c.events.length;
            }
          } else {
            // A first read of the stream (the entry was empty) ran meanwhile and may hold them already.
            this.settle(streamId, entry);
          }
        }
        g.succeed(stored);
        const next = entry.open;
        entry.open = undefined;
        if (next) this.send(streamId, entry, next);
      },
      (error: unknown) => {
        entry.sending = undefined;
        const behind = entry.open;
        entry.open = undefined;
        const conflict = error instanceof EventLogError && error.code === 'VERSION_CONFLICT';
        if (conflict) this.raced(streamId);
        if (g.folded || !conflict) {
          // The state holds events the log did not take, or may not: the next command reads the stream.
          this.evict(streamId, entry);
        } else {
          // Another process appended first: take in what it appended, then the command is decided again.
          this.settle(streamId, entry);
        }
        g.fail(error);
        behind?.fail(lostWith(streamId));
      },
    );
  }

  /** Takes in the stream's events past the entry's version; decisions wait for it. */
  private settle(streamId: string, entry: Entry<S, E>): void {
    const settling = this.catchUp(streamId, entry)
      .catch(() => this.evict(streamId, entry))
      .finally(() => {
        if (entry.settling === settling) entry.settling = undefined;
      });
    entry.settling = settling;
  }

  /** A race on the stream was lost: no deciding ahead there for a while, longer each time. */
  private raced(streamId: string): void {
    const before = this.races.get(streamId);
    const backoff = Math.min((before?.backoff ?? CONTENDED_MS / 2) * 2, MAX_CONTENDED_MS);
    this.races.set(streamId, { until: performance.now() + backoff, backoff });
  }

  private contended(streamId: string): boolean {
    return (this.races.get(streamId)?.until ?? 0) > performance.now();
  }

  /**
   * Decides on the cached state; a refusal (the decision throws) is taken only on the stream read to
   * its end, since what this process has cached may be behind another process's appends (a policy
   * changed, a contribution rejected on review). An acceptance needs no read first: the log refuses
   * its append if the stream moved on.
   */
  private async decideOnLatest<T>(streamId: string, entry: Entry<S, E>, decide: (state: S, version: number) => T): Promise<T> {
    try {
      return decide(entry.state, entry.version);
    } catch {
      await this.catchUp(streamId, entry);
      return decide(entry.state, entry.version);
    }
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

  /** Folds in the stream's events past the entry's version. */
  private async catchUp(streamId: string, entry: Entry<S, E>): Promise<void> {
    for await (const stored of this.eventsFrom(streamId, entry.version + 1)) {
      if (stored.streamSeq <= entry.version) continue; // taken in by another read meanwhile
      const e = this.definition.codec.decode(stored);
      if (e) entry.state = this.definition.evolve(entry.state, e);
      entry.version = stored.streamSeq;
    }
  }

  private evict(streamId: string, entry: Entry<S, E>): void {
    if (this.entries.get(streamId) === entry) this.entries.delete(streamId);
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
