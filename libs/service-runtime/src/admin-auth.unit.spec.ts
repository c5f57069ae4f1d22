import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import { AdminAuth } from './admin-auth.js';

const withAuth = (value?: string) => {
  const m = new Metadata();
  if (value !== undefined) m.set('authorization', value);
  return m;
};

describe('AdminAuth', () => {
  const token = 'admin-token-0123456789abcdef';

  it('takes admin calls without a token only on a server that listens on loopback alone', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost']) {
      assert.equal(new AdminAuth(undefined, host).open, true, host);
      assert.equal(new AdminAuth(undefined, host).refusal(withAuth()), undefined, host);
    }
    for (const host of ['0.0.0.0', '10.1.2.3', '::', 'opal-ingest']) {
      const r = new AdminAuth(undefined, host).refusal(withAuth(`Bearer ${token}`));
      assert.equal(r?.code, status.PERMISSION_DENIED, host);
      assert.equal(r?.details, `authorization: admin calls are off: this server listens on ${host} and OPAL_ADMIN_TOKEN is not set`);
    }
  });

  it('with a token, on any host, takes the calls that carry it and names what is wrong with the others', () => {
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      const auth = new AdminAuth([token], host);
      assert.equal(auth.open, false);
      assert.equal(auth.refusal(withAuth(`Bearer ${token}`)), undefined);
      assert.equal(auth.refusal(withAuth(`bearer ${token}`)), undefined, 'the scheme in any case');
      assert.deepEqual(auth.refusal(withAuth()), { code: status.UNAUTHENTICATED, details: 'authorization: an admin call needs Bearer <OPAL_ADMIN_TOKEN>' });
      assert.deepEqual(auth.refusal(withAuth(`Bearer ${token}x`)), { code: status.UNAUTHENTICATED, details: 'authorization: not an admin token' });
      assert.deepEqual(auth.refusal(withAuth('Bearer sk-some-tenant-key')), { code: status.UNAUTHENTICATED, details: 'authorization: not an admin token' });
    }
  });

  it('takes any of several tokens, so one is rotated without refusing a call', () => {
    const next = 'admin-token-fedcba9876543210';
    const during = new AdminAuth([next, token], '0.0.0.0');
    assert.equal(during.refusal(withAuth(`Bearer ${token}`)), undefined, 'the old one, while clients move');
    assert.equal(during.refusal(withAuth(`Bearer ${next}`)), undefined, 'the new one');
    const after = new AdminAuth([next], '0.0.0.0');
    assert.deepEqual(after.refusal(withAuth(`Bearer ${token}`)), { code: status.UNAUTHENTICATED, details: 'authorization: not an admin token' });
    assert.equal(new AdminAuth([], '0.0.0.0').refusal(withAuth(`Bearer ${token}`))?.code, status.PERMISSION_DENIED, 'none is no token');
  });
});
