import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog, isTransient } from '@opal/event-log';
import { MemoryDocumentStore } from '@opal/event-sourcing';
import { ProjectionHost } from '@opal/service-runtime';
import { TenantLedger } from './tenant-ledger.js';
import { TenantRepository, TenantsHandler } from './tenants.handler.js';
import { InferenceServiceError } from '../domain/inference.errors.js';
import type { KeyHasher } from './inference.ports.js';

/** A ledger whose read models are seen caught up with the log, or not (a lagging replica, the broker away). */
async function ledger(caughtUp: boolean, tenant?: Record<string, unknown>) {
  const store = new MemoryDocumentStore();
  await store.prepare('inference.tenants', [{ name: 'inference_tenants', indexes: [] }]);
  if (tenant) await store.commit('inference.tenants', [{ collection: 'inference_tenants', id: 't-1', doc: tenant }], { cursor: {}, streams: {}, applied: 1 });
  const host = { caughtUpWithin: async () => caughtUp } as unknown as ProjectionHost;
  // readCaughtUp as the host has it, on the same answer.
  (host as any).readCaughtUp = ProjectionHost.prototype.readCaughtUp.bind(host);
  return new TenantLedger(store, host, { hash: (k: string) => k } as unknown as KeyHasher);
}

describe('TenantLedger.tenant', () => {
  it('a tenant not there while the read models are not seen caught up is UNAVAILABLE, not NOT_FOUND', async () => {
    for (const fresh of [true, false]) {
      await assert.rejects((await ledger(false)).tenant('t-1', fresh), (e: Error) => isTransient(e) && /whether tenant t-1 exists cannot be told now|cannot be told now/.test(e.message));
    }
  });

  it('a tenant not there once they are caught up is TENANT_NOT_FOUND, naming the field', async () => {
    for (const fresh of [true, false]) {
      await assert.rejects((await ledger(true)).tenant('t-1', fresh), (e: unknown) => e instanceof InferenceServiceError && e.code === 'TENANT_NOT_FOUND' && /^tenant_id: /.test(e.message));
    }
  });

  it('a tenant there is answered, caught up or not', async () => {
    for (const caughtUp of [true, false]) assert.equal(((await (await ledger(caughtUp, { tenantId: 't-1', balance: '5' })).tenant('t-1', true)) as any).balance, '5');
  });
});

describe('CreateTenant with an API key', () => {
  it("refuses a key another tenant has (API_KEY_TAKEN naming api_key), and leaves that tenant's key as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-keys-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    try {
      const held = new Map<string, string>();
      const ledger = { tenantOfKeyHash: async (h: string) => held.get(h) } as unknown as TenantLedger;
      const admin = new TenantsHandler(new TenantRepository(log), { hash: (k: string) => `h-${k}`, newKey: () => 'k'.repeat(20) }, { now: () => 1 }, ledger);
      await admin.create({ tenantId: 'alice', apiKey: 'shared-key-0123456789' });
      held.set('h-shared-key-0123456789', 'alice');
      await assert.rejects(admin.create({ tenantId: 'bob', apiKey: 'shared-key-0123456789' }), (e: unknown) => e instanceof InferenceServiceError && e.code === 'API_KEY_TAKEN' && /^api_key: /.test(e.message));
      assert.equal(await log.streamVersion('tenant-bob'), 0, 'bob not created');
      await assert.rejects(admin.create({ tenantId: 'bob', apiKey: 'ключ-0123456789abcdef' }), (e: unknown) => e instanceof InferenceServiceError && e.code === 'INVALID_FIELD' && /^api_key: printable ASCII/.test(e.message));
      // A new key, or none (one is made), goes through.
      assert.equal((await admin.create({ tenantId: 'bob', apiKey: '' })).apiKey, 'k'.repeat(20));
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
