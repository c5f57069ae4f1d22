// The log's topics must keep every event: topics created beforehand with the cluster's defaults (a
// week's retention here, as on most clusters), compaction, or a partition whose first events were
// deleted are refused at connect, naming the topic, the setting and the fix. Real broker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { Kafka, logLevel, type Admin } from 'kafkajs';
import { deleteTopics } from '@opal/test-infra';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import { createTopicsWithLeaders } from './kafka-client.js';
import { resolveTopics } from './kafka-event-log.options.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

/** A FAILED_PRECONDITION whose message holds every one of `parts`. */
const refused = (...parts: (string | RegExp)[]) => (e: { code?: string; message: string }) =>
  e.code === 'FAILED_PRECONDITION' && parts.every((p) => (typeof p === 'string' ? e.message.includes(p) : p.test(e.message)));

describe('kafka event log: topics that do not keep every event', { skip: infra.skipped ? infra.reason : false, timeout: 120_000 }, () => {
  let admin: Admin;
  const prefixes: string[] = [];
  const optionsOf = (label: string) => {
    const o = optionsFor(label);
    prefixes.push(o.topics!.prefix!);
    return o;
  };
  /**
   * Sets a topic's settings to the adapter's, with `changes` over them: AlterConfigs (kafkajs has no
   * incremental form) replaces every setting of the topic, so the others are given again.
   */
  const alter = async (topic: string, changes: Record<string, string>) => {
    const settings = { ...Object.fromEntries((resolveTopics().configEntries ?? []).map((e) => [e.name, e.value])), ...changes };
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: Object.entries(settings).map(([name, value]) => ({ name, value })) }] });
    // The broker takes a change in a moment (KRaft hands it on as metadata): until then it still
    // describes the topic as before, on a busy machine for long enough that a connect sees the old.
    for (let i = 0; ; i++) {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: Object.keys(settings) }] });
      const now = new Map((resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
      if (Object.entries(settings).every(([name, value]) => now.get(name) === value)) return;
      assert.ok(i < 200, `${topic}: the broker still describes ${JSON.stringify(Object.fromEntries(now))} 10 s after the change`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });
  after(async () => {
    await admin?.disconnect();
    for (const p of prefixes) await deleteTopics(brokers, p).catch(() => {});
  });

  it('refuses topics a platform team created with the cluster\'s retention, and takes them once set to keep everything', async () => {
    const options = optionsOf('retention-precreated');
    const prefix = options.topics!.prefix!;
    // As a KafkaTopic resource or a script would: the right names and partitions, no settings.
    await createTopicsWithLeaders(admin, { topics: ['events', 'alpha'].map((d) => ({ topic: `${prefix}${d}`, numPartitions: 3 })) });
    await assert.rejects(
      KafkaEventLog.connect(options),
      refused(
        `topic ${prefix}events: retention.ms is 604800000 (7 days), the cluster's default, and Kafka deletes events older than that; set retention.ms=-1`,
        `topic ${prefix}alpha: retention.ms is 604800000`,
        `--entity-name ${prefix}alpha --add-config retention.ms=-1`,
      ),
    );
    for (const d of ['events', 'alpha']) await alter(`${prefix}${d}`, {});
    const log = await KafkaEventLog.connect(options);
    try {
      await log.append(`kept-${run}`, [ev('A')], { expectedVersion: 'no_stream', producer: 't' });
      assert.equal(await log.streamVersion(`kept-${run}`), 1);
    } finally {
      await log.close();
    }
  });

  it('refuses a topic set to delete by size, or to compact, after it was created; a running log sees it too', async () => {
    const options = optionsOf('retention-altered');
    const prefix = options.topics!.prefix!;
    const running = await KafkaEventLog.connect(options);
    assert.deepEqual(await running.retentionProblems(), []);
    await alter(`${prefix}events`, { 'retention.bytes': '1073741824' });
    const seen = await running.retentionProblems();
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /retention\.bytes is 1073741824/);
    await running.close();
    await assert.rejects(KafkaEventLog.connect(options), (e: { code?: string; message: string }) => refused(`topic ${prefix}events: retention.bytes is 1073741824`)(e) && !e.message.includes('alpha'));
    await alter(`${prefix}events`, {});
    await alter(`${prefix}alpha`, { 'cleanup.policy': 'compact' });
    await assert.rejects(KafkaEventLog.connect(options), refused(`topic ${prefix}alpha: cleanup.policy is compact, and compaction keeps only the last event of each stream; set cleanup.policy=delete`));
    await alter(`${prefix}alpha`, {});
    await (await KafkaEventLog.connect(options)).close();
  });

  it('refuses a log whose first events were deleted, naming the partition and how many are gone', async () => {
    const options = optionsOf('retention-deleted');
    const prefix = options.topics!.prefix!;
    const log = await KafkaEventLog.connect(options);
    const stream = `gone-${run}`;
    await log.append(stream, [ev('A'), ev('B')], { expectedVersion: 'no_stream', producer: 't' });
    const [third] = await log.append(stream, [ev('C')], { expectedVersion: 2, producer: 't' });
    await log.close();
    const { partition, offset } = third!.position;
    const cut = partition.lastIndexOf('/');
    const [topic, p] = [partition.slice(0, cut), Number(partition.slice(cut + 1))];
    assert.equal(topic, `${prefix}events`);
    // What retention would have done: the records before the stream's third event deleted.
    await admin.fetchTopicMetadata({ topics: [topic] }); // the admin learns the topic's leaders
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: p, offset: String(offset) }] });
    await assert.rejects(
      KafkaEventLog.connect(options),
      refused(`topic ${topic} partition ${p}: its first record is at offset ${offset}, so the ${offset} records before it, and their events, are gone`, 'opal log import'),
    );
  });
});
