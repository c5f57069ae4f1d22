import { Inject, Injectable } from '@nestjs/common';
import { EVENT_LOG, EventLogError, type EventLog } from '@opal/event-log';
import type { RecordedEvent } from '@opal/event-sourcing';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { inferenceStream, tenantStream, type InferenceEvent } from '../domain/inference.events.js';
import { decideHold, decideSettle, decideSettleExpired, evolveTenant, expiredHolds, initialTenant, type TenantState } from '../domain/tenant.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { INFERENCE_CONFIG, type InferenceConfig } from '../inference.config.js';

/** Appends of one batch that lost the race to another replica, before its commands fail. */
const CONFLICT_ATTEMPTS = 20;

/** What an expired hold's inference recorded when nobody settled it (its replica crashed). */
export const HOLD_EXPIRED = 'HOLD_EXPIRED';

/** One hold or settlement waiting for its tenant's next append. */
type Pending = { readonly decide: (s: TenantState) => InferenceEvent[]; readonly resolve: () => void; readonly reject: (e: unknown) => void };

/** A tenant's stream as this process has read and written it: only appends the log took are folded in. */
type Ledger = { state: TenantState; version: number };

/**
 * Worst-case fees held against tenants' balances, on each tenant's stream, so every replica of the
 * service decides on the same state: together they never hold more than the balance. A request
 * holds before any work and settles with its fee once its outcome is recorded. A hold that is never
 * settled (its replica crashed) is settled after its expiry, by the next hold on that tenant or by
 * the sweeper (releaseExpired), from what the inference's own stream holds; an inference that
 * recorded nothing by then is closed as failed, so it can no longer charge.
 *
 * A replica appends to a tenant's stream one batch at a time: the holds and settlements that arrive
 * while an append is in flight are decided together and go out in the next. Its view of the stream
 * takes in only what the log accepted, so when another replica appended first it reads just the
 * events it missed and decides again (a tenant's stream grows by two events per request; reading
 * it again from the start at every lost race would cost more as it grows).
 */
@Injectable()
export class BalanceHolds {
  private readonly queues = new Map<string, Pending[]>();
  private readonly ledgers = new Map<string, Ledger>();

  constructor(
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
    const ledger = await this.ledgerOf(tenant);
    const outcomes = new Map<string, bigint>();
    for (const id of expiredHolds(ledger.state, now)) outcomes.set(id, await this.outcome(tenant, id, now));
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
    const ledger = await this.ledgerOf(tenant);
    await this.catchUp(tenant, ledger);
    const expired = expiredHolds(ledger.state, now);
    if (expired.length === 0) return 0;
    const outcomes = new Map<string, bigint>();
    for (const id of expired) outcomes.set(id, await this.outcome(tenant, id, now));
    await this.submit(tenant, (s) => decideSettleExpired(s, { tenant, now, outcomes }));
    return expired.length;
  }

  /** The tenant's stream as this process knows it; read from the log the first time. */
  private async ledgerOf(tenant: string): Promise<Ledger> {
    let ledger = this.ledgers.get(tenant);
    if (!ledger) {
      ledger = { state: initialTenant(), version: 0 };
      this.ledgers.set(tenant, ledger);
    }
    if (ledger.version === 0) await this.catchUp(tenant, ledger);
    return ledger;
  }

  /** Folds in what the log holds past the ledger's version (another replica's appends, a credit). */
  private async catchUp(tenant: string, ledger: Ledger): Promise<void> {
    for (const stored of await this.log.readStream(tenantStream(tenant), ledger.version + 1)) {
      if (stored.streamSeq <= ledger.version) continue; // a concurrent catch-up got here first
      const e = inferenceCodec.decode(stored);
      if (e) ledger.state = evolveTenant(ledger.state, e);
      ledger.version = stored.streamSeq;
    }
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
   * One append for the batch: each command is decided on the state as the ones before it left it;
   * a refused command (INSUFFICIENT_BALANCE) is refused alone, but only once the ledger has read
   * the stream to its end (a credit through another replica must count). Decided again on what
   * the log holds when another replica appended first.
   */
  private async append(tenant: string, batch: readonly Pending[]): Promise<void> {
    const stream = tenantStream(tenant);
    try {
      const ledger = await this.ledgerOf(tenant);
      let fresh = false;
      for (let attempt = 1; ; attempt++) {
        const { events, refusals } = decideBatch(ledger.state, stream, batch);
        if (!fresh && refusals.some((r) => r !== undefined)) {
          await this.catchUp(tenant, ledger);
          fresh = true;
          continue;
        }
        if (events.length > 0) {
          const now = this.clock.now();
          const expected = ledger.version;
          try {
            await this.log.append(stream, events.map((e) => inferenceCodec.encode(e, now)), { expectedVersion: expected, producer: 'inference' });
          } catch (error) {
            if (!(error instanceof EventLogError && error.code === 'VERSION_CONFLICT') || attempt >= CONFLICT_ATTEMPTS) throw error;
            await this.catchUp(tenant, ledger);
            fresh = true;
            await new Promise((r) => setTimeout(r, Math.random() * 2 * attempt));
            continue;
          }
          // Unless a first read of the stream, running meanwhile, has taken them in already.
          if (ledger.version === expected) {
            events.forEach((e, i) => {
              ledger.state = evolveTenant(ledger.state, recorded(e, stream, expected + i + 1));
            });
            ledger.version = expected + events.length;
          }
        }
        batch.forEach((p, i) => (refusals[i] === undefined ? p.resolve() : p.reject(refusals[i])));
        return;
      }
    } catch (error) {
      // The log failed (away, or the race lost too often): the ledger is read again next time.
      this.ledgers.delete(tenant);
      for (const p of batch) p.reject(error);
    }
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
