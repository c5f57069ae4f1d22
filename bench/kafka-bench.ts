import { Kafka, logLevel } from 'kafkajs';
import { ensureInfra } from '@opal/test-infra';
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

/** Deletes the topics a bench created (their names start with `prefix`). */
export async function deleteTopics(brokers: string[], prefix: string): Promise<void> {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  if (mine.length) await admin.deleteTopics({ topics: mine });
  await admin.disconnect();
}
