import type { Admin } from 'kafkajs';
import { EventLogError } from '@opal/event-log';

// Keeping a subscription's consumer in its group: kafkajs would otherwise drop it for a slow
// handler, or stop it for good when a commit finds it no longer a member; and the groups' members
// and removal, for the log's operators.

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

/** How many members each of these consumer groups has now (0: none, or no such group). */
export async function groupMembers(admin: Admin, groupIds: readonly string[]): Promise<Map<string, number>> {
  if (groupIds.length === 0) return new Map();
  const { groups } = await admin.describeGroups([...groupIds]);
  return new Map(groups.map((g) => [g.groupId, g.members.length]));
}

/** Deletes these consumer groups (their committed offsets); a group that never existed has nothing to delete. */
export async function deleteGroups(admin: Admin, groupIds: readonly string[]): Promise<void> {
  const results = await admin.deleteGroups([...groupIds]).catch((error: { groups?: { groupId: string; errorCode: number; error?: { type?: string } }[] }) => {
    // kafkajs rejects with each group's outcome when any failed.
    if (!error.groups) throw error;
    return error.groups;
  });
  const failed = results.filter((r) => r.errorCode !== 0 && r.error?.type !== 'GROUP_ID_NOT_FOUND');
  if (failed.length > 0) throw new EventLogError('UNAVAILABLE', `consumer group ${failed.map((r) => `${r.groupId}: ${r.error?.type ?? r.errorCode}`).join(', ')}`);
}
