import { deleteTopics, dropDb, ensureInfra } from '@opal/test-infra';
import type { BenchContext } from './harness.js';

/** The local broker, started if need be; undefined (said in the progress) where it cannot run. */
export async function benchBrokers(ctx: BenchContext): Promise<string[] | undefined> {
  const infra = await ensureInfra(['kafka']);
  if (infra.skipped) {
    ctx.progress(infra.reason);
    return undefined;
  }
  return [infra.endpoints.kafkaBrokers!];
}

/**
 * Topics and a database of a run's own (named after `label`) on the local Kafka broker and
 * MongoDB-wire server, started if need be: the environment a process runs on them with, and their
 * removal. Undefined where they cannot run.
 */
export async function scaledOutCluster(label: string): Promise<{ brokers: string; env: Record<string, string>; drop: () => Promise<void> } | undefined> {
  const infra = await ensureInfra(['kafka', 'mongo']);
  if (infra.skipped) return undefined;
  const brokers = infra.endpoints.kafkaBrokers!;
  const prefix = `bench-${label}-${process.pid}-${Date.now()}.`;
  const url = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/bench_${label.replace(/[^A-Za-z0-9]/g, '_')}_${process.pid}`);
  return {
    brokers,
    env: { OPAL_EVENT_LOG: `kafka://${brokers}`, OPAL_STORE: url, OPAL_KAFKA_TOPIC_PREFIX: prefix },
    async drop() {
      await deleteTopics(brokers, prefix);
      await dropDb(url);
    },
  };
}
