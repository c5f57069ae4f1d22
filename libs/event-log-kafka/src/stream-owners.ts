import { AssignerProtocol, type Assigner, type Consumer, type GroupDescription, type Kafka, type PartitionAssigner } from 'kafkajs';
import { cursorKey } from './kafka-event-log.options.js';

const PROTOCOL = 'opal-owners';

/**
 * Who owns each partition of some topics now: the processes of a service that take commands, each in
 * one consumer group, each advertising the address it takes them at. A stream lives in one partition,
 * so the commands of one stream can all be sent to one process, which then decides them on the state
 * it holds instead of racing the others for each append. The group only assigns: its members read
 * nothing and commit nothing.
 */
export class StreamOwners {
  private owners = new Map<string, string>();
  private closed = false;

  private constructor(private readonly consumer: Consumer) {}

  /**
   * Joins the group and resolves once this process has seen its first assignment. `onChange` hears
   * every new table: partition (cursorKey, `topic/partition`) to the owner's address.
   */
  static async join(
    kafka: Kafka,
    options: { groupId: string; topics: readonly string[]; address: string; onChange?: (owners: ReadonlyMap<string, string>) => void },
  ): Promise<StreamOwners> {
    const consumer = kafka.consumer({
      groupId: options.groupId,
      partitionAssigners: [ownersAssigner(options.address)],
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      // How long the fetch loop idles between looks with every partition paused.
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      retry: { retries: 5, restartOnFailure: async () => !owners.closed },
    });
    const owners = new StreamOwners(consumer);
    let first: () => void = () => {};
    const joined = new Promise<void>((resolve) => (first = resolve));
    consumer.on(consumer.events.GROUP_JOIN, () => {
      // Nothing is read: the assignment is all this group is for.
      consumer.pause(options.topics.map((topic) => ({ topic })));
      void owners.learn(options.onChange).finally(first);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.topics] });
    await consumer.run({ autoCommit: false, eachBatch: async () => {} });
    await joined;
    return owners;
  }

  /** The address of the process that owns this partition now, if the group has assigned it. */
  ownerOf(topic: string, partition: number): string | undefined {
    return this.owners.get(cursorKey(topic, partition));
  }

  /** Leaves the group: the others take this process's partitions at once. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.consumer.disconnect();
  }

  /** Reads the group's assignment from the coordinator once it is stable (a join event carries only this member's). */
  private async learn(onChange?: (owners: ReadonlyMap<string, string>) => void): Promise<void> {
    for (let attempt = 0; attempt < 50 && !this.closed; attempt++) {
      const owners = await this.consumer.describeGroup().then(ownersOf, () => undefined);
      if (owners) {
        this.owners = owners;
        onChange?.(owners);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Each partition's owner, from a description of the group: undefined unless the group is stable
 * with this protocol (another rebalance under way: the next join reads it again).
 */
export function ownersOf(group: Pick<GroupDescription, 'state' | 'protocol' | 'members'>): Map<string, string> | undefined {
  if (group.state !== 'Stable' || group.protocol !== PROTOCOL) return undefined;
  const owners = new Map<string, string>();
  for (const m of group.members) {
    const address = AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData.toString('utf8');
    const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {};
    if (!address) continue;
    for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) owners.set(cursorKey(topic, p), address);
  }
  return owners;
}

/**
 * Partition i of each topic (in order) to member i mod n, the members in the order of their ids;
 * each member's subscription carries the address it advertises.
 */
export function assignPartitions(memberIds: readonly string[], partitionsOf: ReadonlyMap<string, readonly number[]>): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const out = new Map<string, Record<string, number[]>>(members.map((m) => [m, {}]));
  for (const [topic, partitions] of partitionsOf) {
    [...partitions].sort((a, b) => a - b).forEach((p, i) => {
      const assignment = out.get(members[i % members.length]!)!;
      (assignment[topic] ??= []).push(p);
    });
  }
  return out;
}

function ownersAssigner(address: string): PartitionAssigner {
  return ({ cluster }): Assigner => ({
    name: PROTOCOL,
    version: 1,
    async assign({ members, topics }) {
      const partitionsOf = new Map(topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId)]));
      const assigned = assignPartitions(
        members.map((m) => m.memberId),
        partitionsOf,
      );
      return [...assigned].map(([memberId, assignment]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: PROTOCOL, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(address, 'utf8') }) };
    },
  });
}
