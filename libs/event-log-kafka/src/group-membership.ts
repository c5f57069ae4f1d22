// Keeping a subscription's consumer in its group: kafkajs would otherwise drop it for a slow
// handler, or stop it for good when a commit finds it no longer a member.

const HEARTBEAT_MS = 1000;

/**
 * Heartbeats while a handler runs: a batch that takes longer than the session timeout (a slow
 * store) must not cost this member its place in the group.
 */
export async function keepAlive<T>(heartbeat: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => {}), HEARTBEAT_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

const MEMBERSHIP_LOST = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

/**
 * kafkajs wraps a commit refused because this member left the group (it missed its session
 * timeout, or a rebalance began) in a non-retriable error, which stops the consumer for good.
 * Rethrown as the broker's own error, the consumer re-joins the group and resumes from the last
 * commit instead.
 */
export function asRejoin(error: unknown): never {
  let cause = error as { type?: string; cause?: unknown } | undefined;
  while (cause && !MEMBERSHIP_LOST.has(cause.type ?? '') && cause.cause) cause = cause.cause as typeof cause;
  throw cause && MEMBERSHIP_LOST.has(cause.type ?? '') ? cause : error;
}
