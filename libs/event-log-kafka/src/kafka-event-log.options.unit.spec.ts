import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTopics } from './kafka-event-log.options.js';

describe('Kafka topic settings', () => {
  const setting = (copies: number | undefined, name: string) => resolveTopics({ replicationFactor: copies }).configEntries?.find((c) => c.name === name)?.value;

  it('keeps every event: no retention limit, no compaction', () => {
    assert.equal(setting(undefined, 'retention.ms'), '-1');
    assert.equal(setting(undefined, 'cleanup.policy'), 'delete');
  });

  it('with three copies or more, acknowledges an append only once two brokers hold it', () => {
    assert.equal(resolveTopics({}).replicationFactor, 1);
    assert.equal(setting(undefined, 'min.insync.replicas'), undefined);
    assert.equal(setting(2, 'min.insync.replicas'), undefined);
    assert.equal(setting(3, 'min.insync.replicas'), '2');
    assert.equal(setting(5, 'min.insync.replicas'), '2');
  });

  it('refuses a replication factor that is not a positive integer', () => {
    assert.throws(() => resolveTopics({ replicationFactor: 0 }), /topics.replicationFactor/);
    assert.throws(() => resolveTopics({ replicationFactor: 1.5 }), /topics.replicationFactor/);
  });
});
