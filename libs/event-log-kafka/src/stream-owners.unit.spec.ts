import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AssignerProtocol } from 'kafkajs';
import { assignPartitions, ownersOf } from './stream-owners.js';

const member = (memberId: string, address: string | undefined, assignment: Record<string, number[]>) => ({
  memberId,
  clientId: 'c',
  clientHost: '/127.0.0.1',
  memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics: Object.keys(assignment), userData: Buffer.from(address ?? '') }),
  memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData: Buffer.alloc(0) }),
});

describe('StreamOwners: who owns each partition', () => {
  it('spreads each topic\'s partitions over the members in the order of their ids, whatever order they come in', () => {
    const partitions = new Map([
      ['opal.ingest', [2, 0, 1]],
      ['opal.events', [0, 1, 2, 3]],
    ]);
    const a = assignPartitions(['m-b', 'm-a'], partitions);
    assert.deepEqual(a, assignPartitions(['m-a', 'm-b'], partitions));
    assert.deepEqual(Object.fromEntries(a), {
      'm-a': { 'opal.ingest': [0, 2], 'opal.events': [0, 2] },
      'm-b': { 'opal.ingest': [1], 'opal.events': [1, 3] },
    });
    // More members than partitions: some own none, and still get an (empty) assignment.
    assert.deepEqual(Object.fromEntries(assignPartitions(['x', 'y', 'z'], new Map([['t', [0, 1]]]))), { x: { t: [0] }, y: { t: [1] }, z: {} });
  });

  it('reads the owners\' addresses from a stable group of its protocol, and nothing from any other', () => {
    const members = [member('m-a', '10.0.0.1:50051', { 'opal.ingest': [0, 2] }), member('m-b', '10.0.0.2:50051', { 'opal.ingest': [1] }), member('m-c', undefined, { 'opal.ingest': [] })];
    assert.deepEqual(
      ownersOf({ state: 'Stable', protocol: 'opal-owners', members }),
      new Map([
        ['opal.ingest/0', '10.0.0.1:50051'],
        ['opal.ingest/2', '10.0.0.1:50051'],
        ['opal.ingest/1', '10.0.0.2:50051'],
      ]),
    );
    // Mid-rebalance the assignments are stale or empty: the table known before stays in use.
    assert.equal(ownersOf({ state: 'CompletingRebalance', protocol: 'opal-owners', members }), undefined);
    assert.equal(ownersOf({ state: 'Stable', protocol: 'RoundRobinAssigner', members }), undefined);
  });
});
