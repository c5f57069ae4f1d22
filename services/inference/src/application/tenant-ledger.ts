import { Inject, Injectable } from '@nestjs/common';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { ProjectionHost } from '@opal/service-runtime';
import { InferenceServiceError } from '../domain/inference.errors.js';
import type { ApiKeyDoc, TenantDoc } from '../projections/tenants.projection.js';
import { KEY_HASHER, type KeyHasher } from './inference.ports.js';

/**
 * API keys to tenants, and balances with in-flight reservations: a request holds its worst-case fee
 * until its InferenceCompleted reaches the balance read model, so concurrent requests cannot spend
 * the same units twice (within this process).
 */
@Injectable()
export class TenantLedger {
  private readonly reserved = new Map<string, bigint>();

  constructor(
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
    @Inject(KEY_HASHER) private readonly keys: KeyHasher,
  ) {}

  async authenticate(apiKey: string | undefined): Promise<string> {
    if (!apiKey) throw new InferenceServiceError('UNAUTHENTICATED', 'missing API key (authorization: Bearer <key>)');
    const h = this.keys.hash(apiKey);
    let doc = await this.store.get('inference_api_keys', h);
    if (!doc) {
      await this.projections.caughtUp();
      doc = await this.store.get('inference_api_keys', h);
    }
    if (!doc) throw new InferenceServiceError('UNAUTHENTICATED', 'unknown API key');
    return (doc as ApiKeyDoc).tenantId;
  }

  async tenant(tenantId: string, fresh = false): Promise<TenantDoc> {
    if (fresh) await this.projections.caughtUp();
    let doc = await this.store.get('inference_tenants', tenantId);
    if (!doc && !fresh) return this.tenant(tenantId, true);
    if (!doc) throw new InferenceServiceError('TENANT_NOT_FOUND', `tenant_id: no tenant ${tenantId}`);
    return doc as TenantDoc;
  }

  /** Holds `amount` of the tenant's balance; refuses with INSUFFICIENT_BALANCE before any work. */
  async reserve(tenantId: string, amount: bigint): Promise<() => void> {
    const available = async (fresh: boolean) => BigInt((await this.tenant(tenantId, fresh)).balance) - (this.reserved.get(tenantId) ?? 0n);
    let free = await available(false);
    if (free < amount) free = await available(true);
    if (free < amount) {
      throw new InferenceServiceError('INSUFFICIENT_BALANCE', `balance: the request may cost up to ${amount} base units; ${free < 0n ? 0n : free} available`);
    }
    this.reserved.set(tenantId, (this.reserved.get(tenantId) ?? 0n) + amount);
    let released = false;
    // Held until the read models have the request's InferenceCompleted, so the balance shows the fee.
    return () => {
      if (released) return;
      released = true;
      void this.projections.caughtUp().finally(() => this.unreserve(tenantId, amount));
    };
  }

  private unreserve(tenantId: string, amount: bigint): void {
    const left = (this.reserved.get(tenantId) ?? 0n) - amount;
    if (left > 0n) this.reserved.set(tenantId, left);
    else this.reserved.delete(tenantId);
  }
}
