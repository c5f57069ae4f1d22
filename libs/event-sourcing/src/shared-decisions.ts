import { EventLogError, type NewEvent, type StoredEvent } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { CommandContext } from './aggregate-cache.js';
import { group, lostWith, queued, type Group } from './append-group.js';

// How AggregateCache runs commands on a log with concurrent writers (Kafka, the replicas of a
// service): decisions one at a time per stream, those taken while an append is in flight appended
// together after it, and the streams where that lost a race to another process run without it.

/** A stream's aggregate as this process holds it, with what it has decided and not yet seen in the log. */
export type Entry<S, E> = {
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
  /**
   * Commands whose append lost a race, to be decided again before the commands that were waiting
   * behind them (see Redo).
   */
  redo?: Redo;
  /** In a cache with a memory budget: the state's weight as last measured. */
  weight?: number;
};

/** Folds a decided command's events into the entry, numbered as the log numbers them after its version. */
export function foldInto<S, E extends DomainEvent>(
  evolve: (state: S, event: RecordedEvent<E>) => S,
  streamId: string,
  entry: Entry<S, E>,
  events: readonly E[],
  now: number,
  stored?: readonly StoredEvent[],
): void {
  const base = entry.version;
  events.forEach((e, i) => {
    const meta = { streamId, streamSeq: base + i + 1, occurredAt: now, eventId: stored?.[i]?.eventId ?? '' };
    entry.state = evolve(entry.state, { ...e, meta } as RecordedEvent<E>);
  });
  entry.version = base + events.length;
}

/** What SharedDecisions needs of the cache it decides for. */
export type SharedCache<S, E extends DomainEvent> = {
  load(streamId: string): Promise<Entry<S, E>>;
  /** Whether the entry is still the stream's (not evicted). */
  holds(streamId: string, entry: Entry<S, E>): boolean;
  /** Folds in the stream's events past the entry's version. */
  catchUp(streamId: string, entry: Entry<S, E>): Promise<void>;
  evict(streamId: string, entry: Entry<S, E>): void;
  encode(events: readonly E[], ctx: CommandContext): NewEvent[];
  evolve(state: S, event: RecordedEvent<E>): S;
  append(streamId: string, events: NewEvent[], expectedVersion: number): Promise<StoredEvent[]>;
};

/** Events of commands decided ahead of an append in flight, at most, before further decisions wait for it. */
const MAX_GROUP_EVENTS = 2000;
/**
 * How long a stream that lost a race to another process is run without deciding ahead, by default:
 * doubled while races keep coming (up to MAX_CONTENDED_MS), from this again after a quiet spell.
 */
export const CONTENDED_MS = 60_000;
const MAX_CONTENDED_MS = 3_600_000;

/** A stream's contention: until when it decides nothing ahead, and the wait that set it. */
export type Contention = { readonly until: number; readonly backoff: number };

/**
 * The contention after a lost race at `now`: twice the last wait while races keep coming (this one
 * within a wait's length of the last one's end), `first` after a quiet spell. Without the reset a
 * stream raced once in a while (as a deploy moves the owner of routed commands) would wait longer
 * at each, up to an hour.
 */
export function contentionAfterRace(before: Contention | undefined, now: number, first: number): Contention {
  const keptComing = before !== undefined && now < before.until + before.backoff;
  const backoff = keptComing ? Math.min(Math.max(before.backoff * 2, first), MAX_CONTENDED_MS) : first;
  return { until: now + backoff, backoff };
}

/**
 * The commands of an append that lost a race, by id, until each is decided again (its caller
 * retries it) or REDO_WAIT_MS pass. Commands that were waiting behind them on the stream step back
 * and take their turns after, so the stream's commands are decided in the order they came: a
 * waiter that went first would be decided on a state without the earlier command, and the earlier
 * one then judged against the later (a duplicate of it, its quota spent).
 */
type Redo = { readonly ids: Set<string>; readonly done: Promise<void>; end(): void };

/** How long waiters give a lost command's caller to decide it again before they go on. */
const REDO_WAIT_MS = 2000;

/** The command `id` of the entry's redo is decided (or given up): once none is left, the waiters go on. */
function redone<S, E>(entry: Entry<S, E>, id: string): void {
  const r = entry.redo;
  if (r && r.ids.delete(id) && r.ids.size === 0) r.end();
}

/** Sets the entry's redo of these commands (ending one before); it ends by itself after REDO_WAIT_MS. */
function startRedo<S, E>(entry: Entry<S, E>, ids: Iterable<string>): void {
  entry.redo?.end();
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const r: Redo = {
    ids: new Set(ids),
    done,
    end() {
      clearTimeout(timer);
      if (entry.redo === r) entry.redo = undefined;
      resolve();
    },
  };
  // A caller that never decides the command again (it gave up) holds no one up for long.
  const timer = setTimeout(() => r.end(), REDO_WAIT_MS);
  timer.unref?.();
  entry.redo = r;
}

export class SharedDecisions<S, E extends DomainEvent> {
  /** Streams where this process lost a race to another writer: until when it decides no command ahead there. */
  private readonly races = new Map<string, Contention>();

  /** `contendedMs`: the first wait after a lost race (CONTENDED_MS by default), read at each. */
  constructor(
    private readonly cache: SharedCache<S, E>,
    private readonly contendedMs: () => number = () => CONTENDED_MS,
  ) {}

  /**
   * Takes in what other processes appended to the stream since this process last read it, once
   * this process's own appends there are in the log.
   */
  async refresh(streamId: string): Promise<void> {
    for (;;) {
      const entry = await this.cache.load(streamId);
      const release = await this.takeTurn(entry);
      try {
        // An entry evicted meanwhile is read again whole.
        if (!(await this.drained(streamId, entry))) continue;
        await this.cache.catchUp(streamId, entry);
        return;
      } finally {
        release();
      }
    }
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
   * where that happened is then run without deciding ahead for a while (contendedMs, doubling while
   * races keep coming), since reading a long stream again at every lost race would cost more than
   * the round trips saved.
   */
  async decide<R>(
    streamId: string,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> }> {
    for (;;) {
      const entry = await this.cache.load(streamId);
      // A command decided again after its append lost a race: the commands that waited behind it
      // step back until it is decided.
      const first = ctx.commandId !== undefined && entry.redo?.ids.has(ctx.commandId) === true;
      const release = await this.takeTurn(entry);
      let outcome: { result: R; durable: Promise<StoredEvent[]> } | 'evicted' | 'step back';
      try {
        outcome = await this.decideInTurn(streamId, entry, ctx, decide, first);
      } finally {
        release();
        if (first) redone(entry, ctx.commandId!);
      }
      if (outcome === 'step back') await entry.redo?.done;
      else if (outcome !== 'evicted') return outcome;
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

  /**
   * The decision, on the entry as this process has it; 'evicted' when the entry was evicted
   * meanwhile (decide on a fresh one), 'step back' when commands that lost a race are to be decided
   * first (take a turn after them).
   */
  private async decideInTurn<R>(
    streamId: string,
    entry: Entry<S, E>,
    ctx: CommandContext,
    decide: (state: S, version: number) => { readonly events: readonly E[]; readonly result: R },
    first = false,
  ): Promise<{ result: R; durable: Promise<StoredEvent[]> } | 'evicted' | 'step back'> {
    const ready = await this.readyToDecide(streamId, entry, first);
    if (ready !== true) return ready;
    let decided: { readonly events: readonly E[]; readonly result: R };
    try {
      decided = decide(entry.state, entry.version);
    } catch {
      // A refusal stands only on the stream as the log has it: this process's appends first, then
      // what other processes appended.
      if (!(await this.drained(streamId, entry))) return 'evicted';
      await this.cache.catchUp(streamId, entry);
      decided = decide(entry.state, entry.version);
    }
    const { events, result } = decided;
    const ahead = entry.open ?? (entry.sending?.folded ? entry.sending : undefined);
    if (events.length === 0) {
      // Decided on events of this process the log has yet to take: it stands once they are taken.
      return { result, durable: ahead ? ahead.outcome.then(() => [], () => Promise.reject(lostWith(streamId))) : Promise.resolve([]) };
    }
    const command = queued(this.cache.encode(events, ctx), events, ctx.now, ctx.commandId);
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
  private async readyToDecide(streamId: string, entry: Entry<S, E>, first = false): Promise<true | 'evicted' | 'step back'> {
    for (;;) {
      if (!this.cache.holds(streamId, entry)) return 'evicted';
      if (entry.settling) {
        await entry.settling;
        continue;
      }
      if (entry.redo && !first) return 'step back';
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
      if (!this.cache.holds(streamId, entry)) return false;
      const waiting = entry.settling ?? entry.sending?.settled;
      if (!waiting) return true;
      await waiting;
    }
  }

  /** Folds a decided command's events into the entry, as the log will number them. */
  private fold(streamId: string, entry: Entry<S, E>, events: readonly E[], now: number, stored?: readonly StoredEvent[]): void {
    foldInto(this.cache.evolve, streamId, entry, events, now, stored);
  }

  /** Appends a group of commands as one; when it returns, sends the group decided meanwhile. */
  private send(streamId: string, entry: Entry<S, E>, g: Group<E>): void {
    entry.sending = g;
    const events = g.commands.flatMap((c) => c.encoded);
    this.cache.append(streamId, events, g.expected).then(
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
          this.cache.evict(streamId, entry);
        } else {
          // Another process appended first: take in what it appended, then the command is decided again.
          this.settle(streamId, entry);
          // Before the commands that waited behind it, when its caller can be told by the id.
          const ids = g.commands.map((c) => c.commandId);
          if (ids.every((id) => id !== undefined)) startRedo(entry, ids as string[]);
        }
        g.fail(error);
        behind?.fail(lostWith(streamId));
      },
    );
  }

  /** Takes in the stream's events past the entry's version; decisions wait for it. */
  private settle(streamId: string, entry: Entry<S, E>): void {
    const settling = this.cache.catchUp(streamId, entry)
      .catch(() => this.cache.evict(streamId, entry))
      .finally(() => {
        if (entry.settling === settling) entry.settling = undefined;
      });
    entry.settling = settling;
  }

  /** A race on the stream was lost: no deciding ahead there for a while, longer each time. */
  private raced(streamId: string): void {
    this.races.set(streamId, contentionAfterRace(this.races.get(streamId), performance.now(), this.contendedMs()));
  }

  private contended(streamId: string): boolean {
    return (this.races.get(streamId)?.until ?? 0) > performance.now();
  }
}
