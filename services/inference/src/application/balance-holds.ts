import { Inject, Injectable } from '@nestjs/common';
import { EVENT_LOG, EventLogError, type EventLog } from '@opal/event-log';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { inferenceStream, tenantStream } from '../domain/inference.events.js';
import { decideHold, decideSettle, expiredHolds } from '../domain/tenant.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { INFERENCE_CONFIG, type InferenceConfig } from '../inference.config.js';
import { TenantRepository } from './tenants.handler.js';

/** Tries of a hold or settlement that keeps losing to other replicas (each try retries a few times itself). */
const CONTENDED_TRIES = 4;

/** What an expired hold's inference recorded when nobody settled it (its replica crashed). */
export const HOLD_EXPIRED = 'HOLD_EXPIRED';

/**
 * Worst-case fees held against tenants' balances, on each tenant's stream, so every replica of the
 * service decides on the same state: together they never hold more than the balance. A request
 * holds before any work and settles with its fee once its outcome is recorded. A hold that is never
 * settled (its replica crashed) is settled by the next hold on that tenant decided after its
 * expiry, from what the inference's own stream holds; an inference that recorded nothing by then
 * is closed as failed, so it can no longer charge.
 */
@Injectable()
export class BalanceHolds {
  constructor(
    private readonly tenants: TenantRepository,
    @Inject(EVENT_LOG) private readonly log: EventLog,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(INFERENCE_CONFIG) private readonly config: Pick<InferenceConfig, 'holdMs'>,
  ) {}

  /**
   * Holds `amount` for the inference, or refuses with INSUFFICIENT_BALANCE. Resolves with when the
   * hold expires: the inference must have recorded its outcome before then.
   */
  async hold(tenant: string, inferenceId: string, amount: bigint): Promise<{ expiresAt: number }> {
    const stream = tenantStream(tenant);
    const now = this.clock.now();
    const expiresAt = now + this.config.holdMs;
    const outcomes = new Map<string, bigint>();
    for (const id of expiredHolds((await this.tenants.peek(stream)).state, now)) outcomes.set(id, await this.outcome(tenant, id, now));
    await contended(() =>
      this.tenants.execute(stream, { now }, (s) => ({ events: decideHold(s, { tenant, inferenceId, amount, expiresAt, now, outcomes }), result: undefined })),
    );
    return { expiresAt };
  }

  /** Settles the inference's hold with the fee its recorded outcome charged. */
  async settle(tenant: string, inferenceId: string, charged: bigint): Promise<void> {
    await contended(() =>
      this.tenants.execute(tenantStream(tenant), { now: this.clock.now() }, (s) => ({ events: decideSettle(s, { tenant, inferenceId, charged }), result: undefined })),
    );
  }

  /**
   * The fee an inference charged, from its stream: its InferenceCompleted's, or nothing. One that
   * recorded nothing is closed first with InferenceFailed (the stream's first event, so a late
   * InferenceCompleted from a replica that outlived its hold is refused by the log).
   */
  private async outcome(tenant: string, inferenceId: string, now: number): Promise<bigint> {
    const stream = inferenceStream(inferenceId);
    for (;;) {
      const first = (await this.log.readStream(stream)).map((e) => inferenceCodec.decode(e)).find((e) => e !== undefined);
      if (first?.type === 'InferenceCompleted') return BigInt(first.data.fee?.total ?? '0');
      if (first) return 0n;
      const closed = inferenceCodec.encode(
        { type: 'InferenceFailed', data: { inferenceId, tenant, adapterId: '', reason: HOLD_EXPIRED, detail: 'no outcome was recorded before its balance hold expired' } },
        now,
      );
      try {
        await this.log.append(stream, [closed], { expectedVersion: 0, producer: 'inference' });
        return 0n;
      } catch (error) {
        // The inference recorded its outcome meanwhile: read it.
        if (!(error instanceof EventLogError && error.code === 'VERSION_CONFLICT')) throw error;
      }
    }
  }
}

/** Runs a command on a tenant's stream again while other replicas keep winning the race to it. */
async function contended<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof EventLogError && error.code === 'VERSION_CONFLICT') || n >= CONTENDED_TRIES) throw error;
    }
    await new Promise((r) => setTimeout(r, Math.random() * 20 * n));
  }
}
