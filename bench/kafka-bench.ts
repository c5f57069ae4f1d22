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
