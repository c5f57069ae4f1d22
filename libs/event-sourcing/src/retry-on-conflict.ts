import { EventLogError } from '@opal/event-log';

/** Attempts of a command whose appends lost to another process's (see AggregateCache.execute), at least. */
export const CONFLICT_ATTEMPTS = 10;

/** And the least time spent on them before the conflict is reported. */
export const CONFLICT_RETRY_MS = 3000;

/** The longest wait before an attempt after a lost race. */
const CONFLICT_BACKOFF_MAX_MS = 200;

/**
 * Runs `attempt` again while it fails with VERSION_CONFLICT: the conflict is reported once
 * CONFLICT_ATTEMPTS attempts have lost and CONFLICT_RETRY_MS have passed since the first. Before
 * each, it waits a random time up to 5 ms, doubling with each lost race up to
 * CONFLICT_BACKOFF_MAX_MS (the winner's events must be readable before the next decision). Two
 * replicas streaming into one Datanet of 47,000 contributions, waiting 5, 10, 15 and 20 ms alike and
 * giving up after 5 attempts, raced again in step: 5 of 8,000 items failed ABORTED. With 10 attempts
 * and no time bound, one of 600 still did on a machine loaded well past its cores: ten attempts
 * took under a second there.
 *
 * `until` (a time in ms since the epoch), when given, replaces the time bound: the attempts go on
 * until then. A process that lost a race must read what the winner appended before it tries again,
 * while the winner appends at once, so on a stream another replica keeps appending to a loser can
 * lose every race until the winner's run of commands ends. A caller with a deadline of its own (a
 * client stream of many items) waits that long rather than answer ABORTED after 3 s.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, until?: number): Promise<T> {
  const giveUpAt = until ?? Date.now() + CONFLICT_RETRY_MS;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof EventLogError && error.code === 'VERSION_CONFLICT')) throw error;
      if (n >= CONFLICT_ATTEMPTS && Date.now() >= giveUpAt) throw error;
    }
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(CONFLICT_BACKOFF_MAX_MS, 5 * 2 ** (n - 1))));
  }
}
