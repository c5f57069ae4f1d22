import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeExampleCertificate } from '@opal/testkit';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInferenceConfig } from './inference.config.js';

describe('loadInferenceConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-inference-config-'));
  const example = writeExampleCertificate(dir);
  const pem = example.cert;
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves plain HTTP unless given a certificate and its key; budgets its write models', () => {
    const c = loadInferenceConfig({});
    assert.deepEqual([c.httpTls, c.tenantCacheBytes, c.registryCacheBytes], [undefined, 512 << 20, 64 << 20]);
    const tls = loadInferenceConfig({ OPAL_HTTP_TLS_CERT_FILE: pem, OPAL_HTTP_TLS_KEY_FILE: example.key, OPAL_INFERENCE_TENANT_CACHE_MB: '8' });
    assert.match(tls.httpTls!.cert, /BEGIN CERTIFICATE/);
    assert.deepEqual(tls.httpTls!.paths, { cert: pem, key: example.key });
    assert.equal(tls.tenantCacheBytes, 8 << 20);
  });

  it('names a certificate without its key, and a file that is not PEM', () => {
    assert.throws(() => loadInferenceConfig({ OPAL_HTTP_TLS_KEY_FILE: pem }), /OPAL_HTTP_TLS_CERT_FILE: the HTTP port's certificate and its key go together/);
    assert.throws(() => loadInferenceConfig({ OPAL_HTTP_TLS_CERT_FILE: join(dir, 'nope'), OPAL_HTTP_TLS_KEY_FILE: pem }), /OPAL_HTTP_TLS_CERT_FILE: cannot read a PEM file there/);
    assert.throws(() => loadInferenceConfig({ OPAL_INFERENCE_TENANT_CACHE_MB: '0' }), /OPAL_INFERENCE_TENANT_CACHE_MB/);
    assert.throws(() => loadInferenceConfig({ OPAL_HTTP_TLS_CERT_FILE: pem, OPAL_HTTP_TLS_KEY_FILE: example.otherKey }), /OPAL_HTTP_TLS_KEY_FILE: with OPAL_HTTP_TLS_CERT_FILE: the key is not the certificate's/);
  });
});
