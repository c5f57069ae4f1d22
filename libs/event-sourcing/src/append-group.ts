import { EventLogError, type NewEvent, type StoredEvent } from '@opal/event-log';

// What SharedDecisions keeps of commands decided and not yet in the log: each command with its
// encoded events and the promise its caller waits on, and the groups appended as one.

/** A decided command waiting for the log: its encoded events, the events to fold in, and its outcome. */
export type Queued<E> = {
  readonly encoded: NewEvent[];
  readonly events: readonly E[];
  readonly now: number;
  /** The command's id (CommandContext.commandId), by which a retry of it is known. */
  readonly commandId: string | undefined;
  readonly durable: Promise<StoredEvent[]>;
  resolve(stored: StoredEvent[]): void;
  reject(error: unknown): void;
};

export function queued<E>(encoded: NewEvent[], events: readonly E[], now: number, commandId: string | undefined): Queued<E> {
  let resolve!: (stored: StoredEvent[]) => void;
  let reject!: (error: unknown) => void;
  const durable = new Promise<StoredEvent[]>((res, rej) => ((resolve = res), (reject = rej)));
  return { encoded, events, now, commandId, durable, resolve, reject };
}

/** Commands appended as one, at `expected`; `folded` once their events are in the entry's state. */
export type Group<E> = {
  readonly expected: number;
  readonly commands: Queued<E>[];
  events: number;
  folded: boolean;
  /** Resolves once the log took the group, rejects if it did not. */
  readonly outcome: Promise<void>;
  /** Resolves once the group's outcome is handled, either way. */
  readonly settled: Promise<unknown>;
  add(command: Queued<E>): void;
  succeed(stored: readonly StoredEvent[]): void;
  fail(error: unknown): void;
};

export function group<E>(expected: number, folded: boolean): Group<E> {
  let ok!: () => void;
  let refused!: (e: unknown) => void;
  const outcome = new Promise<void>((res, rej) => ((ok = res), (refused = rej)));
  // A failure is the group's commands' (and the decisions taken on it): settled never rejects.
  const settled = outcome.catch(() => undefined);
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
    },
    fail(error) {
      for (const c of g.commands) c.reject(error);
      refused(error);
    },
  };
  return g;
}

/** The refusal of commands decided on events of this process that the log did not take. */
export function lostWith(streamId: string): EventLogError {
  return new EventLogError('VERSION_CONFLICT', `stream ${streamId}: decided on events of this process that lost a race to another writer`);
}
