import { Inject, Injectable } from '@nestjs/common';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { TransientError } from '@opal/event-log';
import { ProjectionHost } from '@opal/service-runtime';
import { InferenceServiceError } from '../domain/inference.errors.js';
import type { ApiKeyDoc, TenantDoc } from '../projections/tenants.projection.js';
import { KEY_HASHER, type KeyHasher } from './inference.ports.js';

/** API keys to tenants, and tenants' balances as the read models show them (holds: BalanceHolds). */
@Injectable()
export class TenantLedger {
  constructor(
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
    @Inject(KEY_HASHER) private readonly keys: KeyHasher,
  ) {}

  async authenticate(apiKey: string | undefined): Promise<string> {
    if (!apiKey) throw new InferenceServiceError('UNAUTHENTICATED', 'missing API key (authorization: Bearer <key>)');
    const tenant = await this.tenantOfKeyHash(this.keys.hash(apiKey));
    if (!tenant) throw new InferenceServiceError('UNAUTHENTICATED', 'unknown API key');
    return tenant;
  }

  /** The tenant an API key hash belongs to, once the read models have applied the log as it is now. */
  async tenantOfKeyHash(apiKeyHash: string): Promise<string | undefined> {
    const doc = await this.projections.readCaughtUp('inference', () => this.store.get('inference_api_keys', apiKeyHash));
    return (doc as ApiKeyDoc | undefined)?.tenantId;
  }

  /**
   * The tenant as the read models show it; `fresh`: once they have applied the log as it is now (a
   * deposit made a moment ago shows in its balance), waiting at most CATCH_UP_WAIT_MS for that. Read
   * models not seen caught up cannot say that a tenant does not exist: UNAVAILABLE, not NOT_FOUND.
   */
  async tenant(tenantId: string, fresh = false): Promise<TenantDoc> {
    const read = async () => ((await this.store.get('inference_tenants', tenantId)) as TenantDoc | undefined) ?? undefined;
    let doc: TenantDoc | undefined;
    if (fresh) {
      const caughtUp = await this.projections.caughtUpWithin('inference');
      doc = await read();
      if (!doc && !caughtUp) throw new TransientError(`inference's read models were not seen caught up with the log, so whether tenant ${tenantId} exists cannot be told now; try again`);
    } else {
      doc = await this.projections.readCaughtUp('inference', read);
    }
    if (!doc) throw new InferenceServiceError('TENANT_NOT_FOUND', `tenant_id: no tenant ${tenantId}`);
    return doc;
  }
}
