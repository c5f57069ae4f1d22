// Admin calls (tenants and their credit, model registrations) on a server given OPAL_ADMIN_TOKEN:
// refused without it, whoever calls; a tenant's API key reads its own tenant only. Real `opal up`,
// real gRPC clients.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { OpalProcess, call, grpcClient, wallet, withOutputOnFailure } from '@opal/testkit';

const TOKEN = 'opal-admin-e2e-0123456789abcdef';

const bearer = (value: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${value}`);
  return m;
};

const refused = (code: status, details: RegExp) => (e: ServiceError) => e.code === code && details.test(e.details);

describe('admin calls with OPAL_ADMIN_TOKEN', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-admin-'));
  const node = new OpalProcess(dir, { env: { OPAL_ADMIN_TOKEN: TOKEN } });
  after(async () => {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses them without the token, takes them with it, and lets a tenant read only its own balance', async () => {
    await node.start();
    await withOutputOnFailure({ node }, async () => {
      const inference = grpcClient(node.url, 'inference');
      const admin = bearer(TOKEN);
      await assert.rejects(call(inference, 'createTenant', { tenantId: 'acme', apiKey: '' }), refused(status.UNAUTHENTICATED, /^authorization: an admin call needs Bearer <OPAL_ADMIN_TOKEN>$/));
      await assert.rejects(call(inference, 'createTenant', { tenantId: 'acme', apiKey: '' }, bearer(`${TOKEN}-guess`)), refused(status.UNAUTHENTICATED, /^authorization: not an admin token$/));
      const acme = await call(inference, 'createTenant', { tenantId: 'acme', apiKey: '' }, admin);
      const other = await call(inference, 'createTenant', { tenantId: 'globex', apiKey: '' }, admin);
      // A tenant's own key is no admin token: it cannot credit itself.
      await assert.rejects(call(inference, 'creditTenant', { tenantId: 'acme', amount: '1000000', reference: 'self' }, bearer(acme.apiKey)), refused(status.UNAUTHENTICATED, /not an admin token/));
      assert.equal((await call(inference, 'creditTenant', { tenantId: 'acme', amount: '5000', reference: 'deposit-1' }, admin)).credited, true);
      await assert.rejects(
        call(inference, 'registerAdapter', { adapterId: 'sneaky-v1', baseModelId: 'infini-gram', owner: wallet(1).address, datanetVersions: ['x@1'], pricePerThousandOutput: '1' }),
        refused(status.UNAUTHENTICATED, /^authorization:/),
      );
      assert.ok(!(await call(inference, 'listModels', {})).models.some((m: { id: string }) => m.id === 'sneaky-v1'), 'nothing was registered');

      // GetTenant: the admin, or the tenant with its own key.
      assert.equal((await call(inference, 'getTenant', { tenantId: 'acme' }, admin)).balance, '5000');
      assert.equal((await call(inference, 'getTenant', { tenantId: 'acme' }, bearer(acme.apiKey))).balance, '5000');
      await assert.rejects(call(inference, 'getTenant', { tenantId: 'acme' }, bearer(other.apiKey)), refused(status.PERMISSION_DENIED, /^tenant_id: this API key is tenant globex's; it reads its own tenant only$/));
      await assert.rejects(call(inference, 'getTenant', { tenantId: 'acme' }), refused(status.UNAUTHENTICATED, /API key/));
      inference.close();
    });
  });

  it('rotates its token without refusing a call: the new one beside the old, then the new alone', async () => {
    const NEXT = 'opal-admin-e2e-next-fedcba9876543210';
    const tenant = (token: string) => call(grpcClient(node.url, 'inference'), 'getTenant', { tenantId: 'acme' }, bearer(token));
    await withOutputOnFailure({ node }, async () => {
      await node.stop();
      node.withEnv({ OPAL_ADMIN_TOKEN: `${NEXT},${TOKEN}` });
      await node.start();
      assert.equal((await tenant(TOKEN)).balance, '5000', 'clients not moved yet');
      assert.equal((await tenant(NEXT)).balance, '5000', 'clients moved');
      await node.stop();
      node.withEnv({ OPAL_ADMIN_TOKEN: NEXT });
      await node.start();
      assert.equal((await tenant(NEXT)).balance, '5000');
      await assert.rejects(call(grpcClient(node.url, 'inference'), 'createTenant', { tenantId: 'initech', apiKey: '' }, bearer(TOKEN)), refused(status.UNAUTHENTICATED, /^authorization: not an admin token$/));
    });
  });
});
