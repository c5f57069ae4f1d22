import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { KafkaSubscription } from './kafka-subscription.js';

// A stop() while the consumer is still joining its group. What goes wrong lies inside kafkajs (its
// stop lets go of a runner still joining), so this runs kafkajs's own consumer, runner and group
// code, over a stand-in cluster whose JoinGroup answers when the test says.

const require = createRequire(import.meta.url);
const createConsumer = require('kafkajs/src/consumer') as (o: object) => unknown;
const { MemberAssignment } = require('kafkajs/src/consumer/assignerProtocol') as { MemberAssignment: { encode(a: object): Buffer } };
const { LEVELS, createLogger } = require('kafkajs/src/loggers') as { LEVELS: { NOTHING: number }; createLogger(o: object): unknown };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function standInCluster() {
  const seen = { joins: 0, fetches: 0, heartbeats: 0, closed: false };
  const coordinator: Record<string, unknown> = {
    isConnected: () => true,
    syncGroup: async () => ({ memberAssignment: MemberAssignment.encode({ version: 1, assignment: { t: [0] } }) }),
    offsetFetch: async () => ({ responses: [{ topic: 't', partitions: [{ partition: 0, offset: '0' }] }] }),
    heartbeat: async () => void seen.heartbeats++,
    leaveGroup: async () => {},
    offsetCommit: async () => {},
  };
  let answerJoin!: () => void;
  const joinAsked = new Promise<void>((asked) => {
    coordinator.joinGroup = async () => {
      seen.joins++;
      asked();
      await new Promise<void>((r) => (answerJoin = r));
      return { generationId: 1, leaderId: 'another member', memberId: 'this member', members: [], groupProtocol: 'RoundRobinAssigner' };
    };
  });
  const record = { offset: '0', key: Buffer.from('a-1'), value: Buffer.from('x'), timestamp: '0', attributes: 0, headers: {} };
  const broker = {
    fetch: async () => {
      // Closed after the test: a consumer still fetching then crashes, and the test process can end.
      if (seen.closed) throw Object.assign(new Error('stand-in cluster closed'), { retriable: false });
      seen.fetches++;
      await sleep(5);
      return { responses: [{ topicName: 't', partitions: [{ partition: 0, highWatermark: '1', messages: [record] }] }] };
    },
  };
  const cluster = {
    connect: async () => {},
    disconnect: async () => {},
    refreshMetadata: async () => {},
    refreshMetadataIfNecessary: async () => {},
    addMultipleTargetTopics: async () => {},
    findGroupCoordinator: async () => coordinator,
    findTopicPartitionMetadata: () => [{ partitionId: 0, leader: 0 }],
    getNodeIds: () => [0],
    committedOffsets: () => ({}),
    findBroker: async () => broker,
    defaultOffset: () => '-2',
    fetchTopicsOffset: async () => [],
  };
  const logger = createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });
  const kafka = { consumer: (o: object) => createConsumer({ ...o, cluster, logger }) } as unknown as Kafka;
  return { kafka, seen, joinAsked, answerJoin: () => answerJoin() };
}

describe('KafkaSubscription: stop() while its consumer joins the group', () => {
  it('leaves no consumer fetching after stop() has resolved', async () => {
    const { kafka, seen, joinAsked, answerJoin } = standInCluster();
    const admin = { fetchOffsets: async () => [], fetchTopicOffsets: async () => [] } as unknown as Admin;
    const settings = { topics: ['t'], groupPrefix: 'test.', deadLetterTopic: 'dead-letter', batchSize: 100, maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1 };
    const sub = new KafkaSubscription(kafka, admin, {} as Producer, settings, { name: 's', from: 'checkpoint', handler: () => {} }, () => {}, async () => true);
    sub.start();
    await joinAsked;
    setTimeout(answerJoin, 20); // the group answers while stop() runs
    await sub.stop();
    const atStop = seen.fetches;
    await sleep(500);
    const after = seen.fetches;
    seen.closed = true;
    assert.equal(seen.joins, 1);
    assert.equal(after - atStop, 0, `${after - atStop} fetches in the 500 ms after stop() resolved`);
  });
});
