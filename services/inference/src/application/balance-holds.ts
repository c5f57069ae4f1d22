import { Inject, Injectable } from '@nestjs/common';
import { EVENT_LOG, EventLogError, type EventLog } from '@opal/event-log';
import type { RecordedEvent } from '@opal/event-sourcing';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { inferenceStream, tenantStream, type InferenceEvent } from '../domain/inference.events.js';
import { decideHold, decideSettle, decideSettleExpired, evolveTenant, expiredHolds, type TenantState } from '../domain/tenant.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { INFERENCE_CONFIG, type InferenceConfig } from '../inference.config.js';
import { TenantRepository } from './tenants.handler.js';

/** Tries of a batch that keeps losing the race to other replicas. */
const CONTENDED_TRIES = 20;
/** Tries of a command whose append's answer was lost (UNAVAILABLE), the stream read again between them. */
const LOST_ANSWER_TRIES = 4;

/** What an expired hold's inference recorded when nobody settled it (its replica crashed). */
export const HOLD_EXPIRED = 'HOLD_EXPIRED';

/** One hold or settlement waiting for its tenant's next append. */
type Pending = { readonly decide: (s: TenantState) => InferenceEvent[]; readonly resolve: () => void; readonly reject: (e: unknown) => void };

/**
 * Worst-case fees held against tenants' balances, on each tenant's stream, so every replica of the
 * service decides on the same state: together they never hold more than the balance. A request
 * holds before any work and settles with its fee once its outcome is recorded. A hold that is never
 * settled (its replica crashed) is settled after its expiry, by the next hold on that tenant or by
 * the sweeper (releaseExpired), from what the inference's own stream holds; an inference that
 * recorded nothing by then is closed as failed, so it can no longer charge.
 *
 * A replica appends to a tenant's stream one batch at a time: the holds and settlements that arrive
 * while an append is in flight are decided together and go out in the next, through the tenant's
 * aggregate (which, scaled out, reads just the events it missed when another replica appended first).
 */
@Injectable()
export class BalanceHolds {
  private readonly queues = new Map<string, Pending[]>();

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
    const now = this.clock.now();
    const expiresAt = now + this.config.holdMs;
    const outcomes = await this.outcomesOfExpired(tenant, now);
    await this.submit(tenant, (s) => decideHold(s, { tenant, inferenceId, amount, expiresAt, now, outcomes }));
    return { expiresAt };
  }

  /** Settles the inference's hold with the fee its recorded outcome charged. */
  async settle(tenant: string, inferenceId: string, charged: bigint): Promise<void> {
    await this.submit(tenant, (s) => decideSettle(s, { tenant, inferenceId, charged }));
  }

  /**
   * Settles the tenant's holds that expired unsettled (their replicas crashed), from their
   * inferences' streams, without waiting for the tenant's next request. Resolves with how many.
   */
  async releaseExpired(tenant: string): Promise<number> {
    const now = this.clock.now();
    await this.tenants.refresh(tenantStream(tenant));
    const outcomes = await this.outcomesOfExpired(tenant, now);
    if (outcomes.size === 0) return 0;
    await this.submit(tenant, (s) => decideSettleExpired(s, { tenant, now, outcomes }));
    return outcomes.size;
  }

  /** The fees charged by the inferences of the tenant's holds expired at `now`, looked up in their streams. */
  private async outcomesOfExpired(tenant: string, now: number): Promise<Map<string, bigint>> {
    const outcomes = new Map<string, bigint>();
    for (const id of expiredHolds((await this.tenants.peek(tenantStream(tenant))).state, now)) {
      const charged = await this.outcome(tenant, id, now);
      if (charged !== undefined) outcomes.set(id, charged);
    }
    return outcomes;
  }

  private submit(tenant: string, decide: Pending['decide']): Promise<void> {
    return new Promise((resolve, reject) => {
      const queued = this.queues.get(tenant);
      if (queued) {
        queued.push({ decide, resolve, reject });
        return;
      }
      const batch = [{ decide, resolve, reject }];
      this.queues.set(tenant, batch);
      void this.drain(tenant, batch);
    });
  }

  /** Appends the tenant's batches one after the other until none waits. */
  private async drain(tenant: string, first: Pending[]): Promise<void> {
    for (let batch = first; batch.length > 0; ) {
      const next: Pending[] = [];
      this.queues.set(tenant, next);
      await this.append(tenant, batch);
      batch = next;
    }
    this.queues.delete(tenant);
  }

  /**
   * One append for the batch: each command is decided on the state as the ones before it left it,
   * and a refused command (INSUFFICIENT_BALANCE) is refused alone. A refusal stands only on the
   * stream read to its end (a credit through another replica must count): the refused commands are
   * decided once more after the aggregate has taken in what others appended.
   */
  private async append(tenant: string, batch: readonly Pending[]): Promise<void> {
    const stream = tenantStream(tenant);
    try {
      let refusals = await this.decideAndAppend(stream, batch);
      const refused = batch.filter((_, i) => refusals[i] !== undefined);
      if (refused.length > 0) {
        await this.tenants.refresh(stream);
        const again = await this.decideAndAppend(stream, refused);
        let k = 0;
        refusals = refusals.map((r) => (r === undefined ? undefined : again[k++]));
      }
      batch.forEach((p, i) => (refusals[i] === undefined ? p.resolve() : p.reject(refusals[i])));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  /** Decides the commands together and appends their events; resolves with each one's refusal, if any. */
  private async decideAndAppend(stream: string, batch: readonly Pending[]): Promise<unknown[]> {
    let refusals: unknown[] = [];
    await contended(async () => {
      const { durable } = await this.tenants.decide(stream, { now: this.clock.now() }, (state) => {
        const decided = decideBatch(state, stream, batch);
        refusals = decided.refusals;
        return { events: decided.events, result: undefined };
      });
      await durable;
    }, () => this.tenants.refresh(stream));
    return refusals;
  }

  /**
   * The fee an inference charged, from its stream: its InferenceCompleted's, or nothing. One that
   * recorded nothing is closed first with InferenceFailed (the stream's first event, so a late
   * InferenceCompleted from a replica that outlived its hold is refused by the log). Undefined for
   * a stream whose events this release cannot read (a newer one's, during a rolling upgrade): its
   * hold is left for a process that can (it was tried again without end, and the tenant's requests
   * waited behind it).
   */
  private async outcome(tenant: string, inferenceId: string, now: number): Promise<bigint | undefined> {
    const stream = inferenceStream(inferenceId);
    for (;;) {
      const events = await this.log.readStream(stream);
      const first = events.map((e) => inferenceCodec.decode(e)).find((e) => e !== undefined);
      if (first?.type === 'InferenceCompleted') return BigInt(first.data.fee?.total ?? '0');
      if (first) return 0n;
      if (events.length > 0) return undefined;
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

/**
 * Runs a command on a tenant's stream again while other replicas keep winning the race to it. The
 * aggregate has read what the winner appended by the time the append fails, so the pauses are only
 * short jitter, to let racing replicas fall out of step. An append whose answer was lost
 * (UNAVAILABLE) may have landed: `refresh` reads the stream again, and the commands are decided
 * once more on it, a few times at most. They are idempotent by inference id (a hold already there
 * is not taken again, a settled one not settled again), so one that landed counts as done: before,
 * the request was refused while its hold stayed open until it expired, with every command batched
 * with it.
 */
async function contended<T>(attempt: () => Promise<T>, refresh: () => Promise<void>): Promise<T> {
  let lost = 0;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const unavailable = error instanceof EventLogError && error.code === 'UNAVAILABLE';
      if (unavailable && ++lost < LOST_ANSWER_TRIES) {
        await new Promise((r) => setTimeout(r, 250 * lost));
        // Still away: its own error is the answer.
        await refresh();
        continue;
      }
      if (!(error instanceof EventLogError && error.code === 'VERSION_CONFLICT') || n >= CONTENDED_TRIES) throw error;
    }
    await new Promise((r) => setTimeout(r, Math.random() * 2 * n));
  }
}

/** The batch's commands decided in order on a copy of what holds and settlements change. */
function decideBatch(state: TenantState, stream: string, batch: readonly Pending[]): { events: InferenceEvent[]; refusals: unknown[] } {
  const view: TenantState = { ...state, holds: new Map(state.holds) };
  const events: InferenceEvent[] = [];
  const refusals = batch.map((p) => {
    try {
      for (const e of p.decide(view)) {
        events.push(e);
        evolveTenant(view, recorded(e, stream, 0));
      }
      return undefined;
    } catch (error) {
      return error ?? new Error('refused');
    }
  });
  return { events, refusals };
}

function recorded(e: InferenceEvent, streamId: string, streamSeq: number): RecordedEvent<InferenceEvent> {
  return { ...e, meta: { streamId, streamSeq, occurredAt: 0, eventId: '' } } as RecordedEvent<InferenceEvent>;
}
