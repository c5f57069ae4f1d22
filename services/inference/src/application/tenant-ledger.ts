import { Inject, Injectable } from '@nestjs/common';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
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
    const h = this.keys.hash(apiKey);
    const doc = await this.projections.readCaughtUp('inference', () => this.store.get('inference_api_keys', h));
    if (!doc) throw new InferenceServiceError('UNAUTHENTICATED', 'unknown API key');
    return (doc as ApiKeyDoc).tenantId;
  }

  async tenant(tenantId: string, fresh = false): Promise<TenantDoc> {
    if (fresh) await this.projections.caughtUpWithin('inference');
    let doc = await this.store.get('inference_tenants', tenantId);
    if (!doc && !fresh) return this.tenant(tenantId, true);
    if (!doc) throw new InferenceServiceError('TENANT_NOT_FOUND', `tenant_id: no tenant ${tenantId}`);
    return doc as TenantDoc;
  }
}
