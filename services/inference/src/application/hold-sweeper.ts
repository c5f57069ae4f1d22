import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { LOGGER } from '@opal/service-runtime';
import type { TenantDoc } from '../projections/tenants.projection.js';
import { BalanceHolds } from './balance-holds.js';

/** Tenants looked at per pass; the next pass goes on after the last of them (or a tenant's next request settles its holds). */
export const TENANTS_PER_PASS = 1000;

/**
 * Settles holds that expired unsettled (their replica crashed) for the tenants the read model shows
 * holding, so their funds come back without waiting for their next request. Every replica may run
 * it: the holds are settled on the tenant's stream, once.
 */
@Injectable()
export class HoldSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** The last tenant the previous pass looked at, in id order; undefined to start from the first. */
  private after: string | undefined;

  constructor(
    private readonly holds: BalanceHolds,
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * One pass over up to TENANTS_PER_PASS holding tenants, in id order after where the last pass
   * stopped (from the first again once the list ends); resolves with how many holds it settled.
   */
  async sweep(limit = TENANTS_PER_PASS): Promise<number> {
    const after = this.after === undefined ? {} : { after: { keys: [], id: this.after } };
    const items = (await this.store.list('inference_tenants', { where: { holding: true }, limit, ...after })) as TenantDoc[];
    this.after = items.length < limit ? undefined : items.at(-1)!.tenantId;
    let settled = 0;
    for (const t of items) {
      try {
        settled += await this.holds.releaseExpired(t.tenantId);
      } catch (error) {
        this.logger.warn({ tenant: t.tenantId, err: error }, 'expired balance holds not settled; the next pass tries again');
      }
    }
    if (settled > 0) this.logger.info({ settled }, 'expired balance holds settled');
    return settled;
  }

  start(everyMs: number): void {
    this.timer ??= setInterval(() => {
      this.running = this.running.then(() => this.sweep()).catch((error: unknown) => this.logger.warn({ err: error }, 'sweep of expired balance holds failed'));
    }, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
