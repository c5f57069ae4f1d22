import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteTopics, withKafkaAdmin } from '@opal/test-infra';
import type { Cursor, StoredEvent } from '@opal/event-log';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

// 'checkpoint' subscriptions as consumer groups: members sharing partitions, their joint progress,
// caughtUp waiting for the group, and a member whose handler outlasts the session timeout.
describe('kafka event log: subscriptions shared by a consumer group', { skip: infra.skipped ? infra.reason : false }, () => {
  const options = optionsFor('group');
  let log: KafkaEventLog;
  before(async () => {
    log = await KafkaEventLog.connect(options);
  });
  after(async () => {
    await log?.close();
    await deleteTopics(brokers, options.topics!.prefix!);
  });

  it('counts the processes of a subscription, and forgets its progress only once none is left', async () => {
    const name = `forget-${run}`;
    const never = `never-${run}`;
    await log.append(`forget-${run}`, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
    const sub = log.subscribe({ name, from: 'checkpoint', handler: () => {} });
    await sub.caughtUp();
    assert.deepEqual([...(await log.subscribers([name, never]))], [[name, 1], [never, 0]]);
    await assert.rejects(log.forgetSubscriptions([name]), (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && e.message.includes(`${name} (1 process)`));
    await sub.stop();
    assert.deepEqual([...(await log.subscribers([name]))], [[name, 0]]);
    await log.forgetSubscriptions([name, never]); // a subscription never stored is nothing to forget
    const groups = (await withKafkaAdmin(brokers, (admin) => admin.listGroups())).groups.map((g) => g.groupId);
    assert.ok(!groups.includes(`${options.groupPrefix}${name}`), groups.join(', '));
    // Started again, it reads from offset zero: no progress is left.
    const seen: string[] = [];
    const again = log.subscribe({ name, from: 'checkpoint', handler: (b) => void seen.push(...b.filter((e) => e.streamId === `forget-${run}`).map((e) => e.type)) });
    await again.caughtUp();
    await again.stop();
    assert.deepEqual(seen, ['A']);
  });

  it('shares partitions between two members of one group, shows their joint progress, and hands them over when one stops', async () => {
    const name = `shared-${run}`;
    // Four streams on each partition of their topic, so that each member holds some of them
    // whichever partitions the group gives it.
    const ids: string[] = [];
    const onPartition = new Map<number, number>();
    for (let i = 0; ids.length < 12 && i < 1000; i++) {
      const id = `shared${i}-${run}`;
      const { partition } = log.locate(id);
      if ((onPartition.get(partition) ?? 0) === 4) continue;
      onPartition.set(partition, (onPartition.get(partition) ?? 0) + 1);
      ids.push(id);
    }
    assert.equal(ids.length, 12, 'the topic has three partitions');
    const mine = (b: StoredEvent[]) => b.filter((e) => ids.includes(e.streamId)).map((e) => `${e.streamId}#${e.streamSeq}`);
    for (const id of ids) await log.append(id, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
    const other = await KafkaEventLog.connect(options);
    const seenA = new Set<string>();
    const seenB = new Set<string>();
    const a = log.subscribe({ name, from: 'checkpoint', handler: (b) => void mine(b).forEach((x) => seenA.add(x)) });
    const b = other.subscribe({ name, from: 'checkpoint', handler: (b) => void mine(b).forEach((x) => seenB.add(x)) });
    try {
      await Promise.all([a.caughtUp(), b.caughtUp()]);
      for (const id of ids) assert.ok(seenA.has(`${id}#1`) || seenB.has(`${id}#1`), `${id}#1 delivered to one member`);
      // Appended once both members hold their partitions: each delivers its own, and a member
      // sees the other's progress only in the shared cursor.
      const later = await Promise.all(ids.map(async (id) => (await log.append(id, [ev('S')], { expectedVersion: 1, producer: 't' }))[0]!));
      await Promise.all([a.caughtUp(), b.caughtUp()]);
      const past = (c: Cursor, e: StoredEvent) => (c[e.position.partition] ?? 0) > e.position.offset;
      const shared = await a.sharedCursor();
      for (const e of later) assert.ok(past(shared, e), `${e.streamId}#2: the shared cursor is past it`);
      assert.ok(later.some((e) => !past(a.cursor(), e)), "some were the other member's to deliver");
      // The lag is the group's: each member counts what the other delivered as done.
      assert.deepEqual([await a.lag(), await b.lag()], [0, 0]);
      await b.stop(); // leaves the group: its partitions move to the other member
      for (const id of ids) await log.append(id, [ev('B')], { expectedVersion: 2, producer: 't' });
      const until = Date.now() + 30_000;
      while (!ids.every((id) => seenA.has(`${id}#3`)) && Date.now() < until) {
        await a.caughtUp();
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const id of ids) assert.ok(seenA.has(`${id}#3`), `${id}#3 delivered to the remaining member`);
    } finally {
      await a.stop();
      await b.stop();
      await other.close();
    }
  });

  it("is caught up only once the group is: a member waits for the partitions the other member has not delivered yet", async () => {
    const name = `joint-${run}`;
    const ids = Array.from({ length: 12 }, (_, i) => `joint${i}-${run}`);
    for (const id of ids) await log.append(id, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
    const other = await KafkaEventLog.connect(options);
    // The first member holds back the second event of each stream until the gate opens.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const heldBack = new Set<string>();
    const a = log.subscribe({
      name,
      from: 'checkpoint',
      handler: async (batch) => {
        const mine = batch.filter((e) => ids.includes(e.streamId) && e.streamSeq === 2);
        if (mine.length === 0) return;
        for (const e of mine) heldBack.add(e.position.partition);
        await gate;
      },
    });
    const b = other.subscribe({ name, from: 'checkpoint', handler: () => {} });
    try {
      await Promise.all([a.caughtUp(), b.caughtUp()]);
      for (const id of ids) await log.append(id, [ev('B')], { expectedVersion: 1, producer: 't' });
      let done = false;
      const caughtUp = b.caughtUp().then(() => (done = true));
      for (let i = 0; i < 100 && heldBack.size === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(heldBack.size > 0, 'the first member holds some of the new events');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(done, false, "the second member is not caught up while the first holds its partitions' events");
      open();
      await caughtUp;
      const shared = await b.sharedCursor();
      const { events } = await other.read(undefined, 100_000);
      for (const e of events.filter((x) => ids.includes(x.streamId))) assert.ok((shared[e.position.partition] ?? 0) > e.position.offset, `${e.streamId}#${e.streamSeq} delivered by the group`);
    } finally {
      open();
      await a.stop();
      await b.stop();
      await other.close();
    }
  });

  it('keeps a member whose handler outlasts the session timeout, and commits what it handled', async () => {
    const name = `slow-${run}`;
    const ids = Array.from({ length: 6 }, (_, i) => `slow${i}-${run}`);
    for (const id of ids) await log.append(id, [ev('A'), ev('B')], { expectedVersion: 'no_stream', producer: 't' });
    const seen = new Set<string>();
    let slept = false;
    const sub = log.subscribe({
      name,
      from: 'checkpoint',
      handler: async (batch) => {
        // Longer than the 10 s session timeout: without heartbeats the group drops this member.
        if (!slept && batch.some((e) => ids.includes(e.streamId))) {
          slept = true;
          await new Promise((r) => setTimeout(r, 12_000));
        }
        for (const e of batch) if (ids.includes(e.streamId)) seen.add(`${e.streamId}#${e.streamSeq}`);
      },
    });
    try {
      await sub.caughtUp();
      for (const id of ids) for (const seq of [1, 2]) assert.ok(seen.has(`${id}#${seq}`), `${id}#${seq} delivered`);
      // The offsets were committed: a later member of the group starts past these events.
      await sub.stop();
      const again: string[] = [];
      const next = log.subscribe({ name, from: 'checkpoint', handler: (b) => void again.push(...b.filter((e) => ids.includes(e.streamId)).map((e) => e.streamId)) });
      await next.caughtUp();
      await next.stop();
      assert.deepEqual(again, []);
    } finally {
      await sub.stop();
    }
  });
});
