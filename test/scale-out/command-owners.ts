import { Kafka, logLevel } from 'kafkajs';
import { ownersOf } from '@opal/event-log-kafka';

/**
 * Each partition's owner (`topic/partition` to address) as the replicas' owners group has them,
 * once the group is stable with `members` members; throws after `timeoutMs`.
 */
export async function settledOwners(brokers: string, groupId: string, members: number, timeoutMs = 60_000): Promise<Map<string, string>> {
  const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    for (const deadline = Date.now() + timeoutMs; ; ) {
      const [group] = (await admin.describeGroups([groupId])).groups;
      const table = group && group.members.length === members ? ownersOf(group) : undefined;
      if (table && table.size > 0) return table;
      if (Date.now() > deadline) throw new Error(`${groupId}: not settled on ${members} member(s) after ${timeoutMs} ms (${group?.state ?? 'no group'})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}
