import { ensureInfra } from '@opal/test-infra';
import type { KafkaEventLogOptions } from './kafka-event-log.options.js';

// What the Kafka adapter's integration tests share: the broker, a run id, options per label, events.

export const infra = await ensureInfra(['kafka']);
export const brokers = infra.skipped ? [] : [infra.endpoints.kafkaBrokers!];
export const run = `${process.pid}-${Date.now()}`;

/** A log of its own topics (`opal-test-<label>-<run>.`), with two domains: 'ia-…' streams go to their own topic. */
export function optionsFor(label: string, extra: Partial<KafkaEventLogOptions> = {}): KafkaEventLogOptions {
  return {
    brokers,
    clientId: `opal-test-${label}`,
    logLevel: 'nothing',
    topics: { prefix: `opal-test-${label}-${run}.`, defaultPartitions: 3, streamDomains: { ia: 'alpha' } },
    groupPrefix: `opal-test-${run}.`,
    ...extra,
  };
}

const enc = new TextEncoder();
export const ev = (type: string, body = '') => ({ type, payload: enc.encode(body), occurredAt: 1_700_000_000_000 });
