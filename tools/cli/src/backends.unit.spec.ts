import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTopics } from '@opal/event-log-kafka';
import { ConfigError, loadConfig } from '@opal/service-runtime';
import { datanetStream } from '@opal/ingest';
import { adapterStream, baseModelStream, inferenceStream, tenantStream } from '@opal/inference';
import { indexStream, receiptStream } from '@opal/attribution';
import { isMongo, kafkaOptions } from './backends.js';

const kafka = (env: Record<string, string> = {}, serving = true) => kafkaOptions(loadConfig({ OPAL_EVENT_LOG: 'kafka://127.0.0.1:9092', ...env }), undefined, undefined, serving);

describe('the platform on Kafka: its topics', () => {
  it("puts each service's streams in a topic of its own, any other stream in <prefix>events", () => {
    const t = resolveTopics(kafka().topics);
    assert.equal(t.topicOf(datanetStream('d1')), 'opal.ingest');
    for (const s of [baseModelStream('b'), adapterStream('a'), tenantStream('t'), inferenceStream('i')]) assert.equal(t.topicOf(s), 'opal.inference', s);
    assert.equal(t.topicOf(receiptStream('i')), 'opal.attribution');
    assert.equal(t.topicOf(indexStream('d1', 2)), 'opal.attribution');
    assert.equal(t.topicOf('misc-1'), 'opal.events');
    assert.deepEqual(t.all.map((x) => x.topic), ['opal.attribution', 'opal.events', 'opal.inference', 'opal.ingest']);
  });

  it('sizes topics by domain where told, the others by OPAL_KAFKA_PARTITIONS', () => {
    const t = resolveTopics(kafka({ OPAL_KAFKA_PARTITIONS: '4', OPAL_KAFKA_DOMAIN_PARTITIONS: 'ingest=6, inference=12' }).topics);
    assert.deepEqual(Object.fromEntries(t.all.map((x) => [x.topic, x.partitions])), { 'opal.attribution': 4, 'opal.events': 4, 'opal.inference': 12, 'opal.ingest': 6 });
  });

  it('keeps every stream in <prefix>events in the single layout (clusters written before topics per service)', () => {
    const t = resolveTopics(kafka({ OPAL_KAFKA_TOPIC_LAYOUT: 'single', OPAL_KAFKA_TOPIC_PREFIX: 'p.' }).topics);
    assert.deepEqual(t.all.map((x) => x.topic), ['p.events']);
    assert.equal(t.topicOf(datanetStream('d1')), 'p.events');
  });

  it("keeps the index's records past OPAL_KAFKA_INDEX_MEMORY_MB in the data folder, across restarts when serving, unless OPAL_KAFKA_INDEX_PERSIST=false", () => {
    assert.deepEqual(kafka({ OPAL_KAFKA_INDEX_MEMORY_MB: '0', OPAL_DATA_DIR: '/srv/opal' }).index, { memoryBytes: 0, dir: '/srv/opal/kafka-index', persist: true });
    assert.equal(kafka({ OPAL_KAFKA_INDEX_PERSIST: 'false' }).index?.persist, false);
    assert.equal(kafka({}, false).index?.persist, false, 'a one-off command keeps none');
    assert.equal(kafka().index?.memoryBytes, 256 << 20);
  });

  it('names the variable of a bad layout or partition list', () => {
    const named = (name: string) => (e: unknown) => e instanceof ConfigError && e.message.includes(name);
    assert.throws(() => kafka({ OPAL_KAFKA_DOMAIN_PARTITIONS: 'ingest=0' }), named('OPAL_KAFKA_DOMAIN_PARTITIONS'));
    assert.throws(() => kafka({ OPAL_KAFKA_DOMAIN_PARTITIONS: 'ingest' }), named('OPAL_KAFKA_DOMAIN_PARTITIONS'));
    assert.throws(() => kafka({ OPAL_KAFKA_DOMAIN_PARTITIONS: 'settlement=3' }), named("no topic 'settlement'"));
    assert.throws(() => kafka({ OPAL_KAFKA_TOPIC_LAYOUT: 'per-stream' }), named('OPAL_KAFKA_TOPIC_LAYOUT'));
  });
});

describe('the platform on Kafka and MongoDB: reaching secured servers', () => {
  it('hands TLS and SASL settings to the Kafka client, and none unless given', () => {
    assert.deepEqual([kafka().tls, kafka().sasl], [undefined, undefined]);
    const on = kafka({ OPAL_KAFKA_TLS: 'true', OPAL_KAFKA_SASL_MECHANISM: 'scram-sha-512', OPAL_KAFKA_SASL_USERNAME: 'opal', OPAL_KAFKA_SASL_PASSWORD: 'pw' });
    assert.deepEqual(on.tls, { ca: undefined, cert: undefined, key: undefined });
    assert.deepEqual(on.sasl, { mechanism: 'scram-sha-512', username: 'opal', password: 'pw' });
  });

  it('takes a mongodb+srv:// store (hosts from DNS, as managed clusters give them), and refuses other schemes by name', () => {
    for (const store of ['mongodb://127.0.0.1:27017/opal', 'mongodb+srv://user:pw@cluster0.example.net/opal?retryWrites=true']) {
      assert.ok(isMongo(loadConfig({ OPAL_STORE: store })), store);
    }
    assert.equal(isMongo(loadConfig({})), false);
    assert.throws(() => loadConfig({ OPAL_STORE: 'postgres://db/opal' }), (e: unknown) => e instanceof ConfigError && /OPAL_STORE: memory, mongodb:\/\/host:port\/db or mongodb\+srv:\/\/host\/db/.test(e.message));
  });
});
