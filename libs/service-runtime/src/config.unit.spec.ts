import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig: metrics and traces', () => {
  it('serves no metrics and records no traces unless asked; an empty value counts as unset', () => {
    const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    assert.deepEqual([c.metricsPort, c.otlpEndpoint, c.serviceName], [-1, undefined, undefined]);
    const on = loadConfig({ OPAL_METRICS_PORT: '9464', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'ingest-eu' });
    assert.deepEqual([on.metricsPort, on.otlpEndpoint, on.serviceName], [9464, 'http://collector:4318', 'ingest-eu']);
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => loadConfig({ OPAL_METRICS_PORT: '-5', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' }),
      (e: unknown) => e instanceof ConfigError && /OPAL_METRICS_PORT/.test(e.message) && /OTEL_EXPORTER_OTLP_ENDPOINT: a URL/.test(e.message),
    );
  });
});

describe('loadConfig: the Kafka index', () => {
  it('keeps 256 MiB of records in memory unless told otherwise, and refuses a size that is not a whole number of MiB', () => {
    assert.equal(loadConfig({}).kafkaIndexMemoryBytes, 256 << 20);
    assert.equal(loadConfig({ OPAL_KAFKA_INDEX_MEMORY_MB: '0' }).kafkaIndexMemoryBytes, 0);
    assert.throws(() => loadConfig({ OPAL_KAFKA_INDEX_MEMORY_MB: '1.5' }), (e: unknown) => e instanceof ConfigError && /OPAL_KAFKA_INDEX_MEMORY_MB/.test(e.message));
  });
});
