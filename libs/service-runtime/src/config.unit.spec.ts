import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeExampleCertificate } from '@opal/testkit';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, withoutPassword } from './config.js';

describe('loadConfig: metrics and traces', () => {
  it('serves no metrics and records no traces unless asked; an empty value counts as unset', () => {
    const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    assert.deepEqual([c.metricsPort, c.otlpEndpoint, c.serviceName], [-1, undefined, undefined]);
    const on = loadConfig({ OPAL_METRICS_PORT: '9464', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'ingest-eu' });
    assert.deepEqual([on.metricsPort, on.otlpEndpoint, on.serviceName], [9464, 'http://collector:4318', 'ingest-eu']);
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => loadConfig({ OPAL_METRICS_PORT: '-5', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' }),
      (e: unknown) => e instanceof ConfigError && /OPAL_METRICS_PORT/.test(e.message) && /OTEL_EXPORTER_OTLP_ENDPOINT: a URL/.test(e.message),
    );
  });
});

describe('loadConfig: the Kafka index', () => {
  it('keeps 256 MiB of records in memory unless told otherwise, and refuses a size that is not a whole number of MiB', () => {
    assert.equal(loadConfig({}).kafkaIndexMemoryBytes, 256 << 20);
    assert.equal(loadConfig({ OPAL_KAFKA_INDEX_MEMORY_MB: '0' }).kafkaIndexMemoryBytes, 0);
    assert.throws(() => loadConfig({ OPAL_KAFKA_INDEX_MEMORY_MB: '1.5' }), (e: unknown) => e instanceof ConfigError && /OPAL_KAFKA_INDEX_MEMORY_MB/.test(e.message));
  });
});

describe('loadConfig: stopping', () => {
  it('drains for nothing and gives running calls 20 s unless told otherwise, and refuses what is not whole milliseconds up to 5 minutes', () => {
    const c = loadConfig({});
    assert.deepEqual([c.shutdownDrainMs, c.shutdownGraceMs], [0, 20_000]);
    const set = loadConfig({ OPAL_SHUTDOWN_DRAIN_MS: '5000', OPAL_SHUTDOWN_GRACE_MS: '0' });
    assert.deepEqual([set.shutdownDrainMs, set.shutdownGraceMs], [5000, 0]);
    assert.throws(
      () => loadConfig({ OPAL_SHUTDOWN_DRAIN_MS: '-1', OPAL_SHUTDOWN_GRACE_MS: '300001' }),
      (e: unknown) => e instanceof ConfigError && /OPAL_SHUTDOWN_DRAIN_MS/.test(e.message) && /OPAL_SHUTDOWN_GRACE_MS/.test(e.message),
    );
  });
});

describe('loadConfig: Kafka security', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-config-tls-'));
  const example = writeExampleCertificate(dir);
  const pem = example.cert;
  const broken = join(dir, 'broken.pem');
  writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const notPem = join(dir, 'notes.txt');
  writeFileSync(notPem, 'hello');
  // A bundle whose second certificate is cut short, and a PEM file holding a key, not a certificate.
  const brokenBundle = join(dir, 'bundle.pem');
  writeFileSync(brokenBundle, `${readFileSync(pem, 'utf8')}-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n`);
  const keyOnly = join(dir, 'key-only.pem');
  writeFileSync(keyOnly, readFileSync(example.key, 'utf8'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('speaks plaintext without credentials unless told otherwise', () => {
    const c = loadConfig({});
    assert.deepEqual([c.kafkaTls, c.kafkaSasl], [undefined, undefined]);
  });

  it('turns TLS on with a CA file, reads the file, and takes SASL credentials whole', () => {
    const c = loadConfig({ OPAL_KAFKA_TLS_CA_FILE: pem, OPAL_KAFKA_SASL_MECHANISM: 'scram-sha-512', OPAL_KAFKA_SASL_USERNAME: 'opal', OPAL_KAFKA_SASL_PASSWORD: 's3cret' });
    assert.ok(c.kafkaTls && c.kafkaTls.ca?.startsWith('-----BEGIN CERTIFICATE-----'));
    assert.deepEqual(c.kafkaSasl, { mechanism: 'scram-sha-512', username: 'opal', password: 's3cret' });
    assert.deepEqual(c.kafkaTls.paths, { ca: pem, cert: undefined, key: undefined }, 'read again while the process runs (kafkaTlsFiles)');
    assert.deepEqual(loadConfig({ OPAL_KAFKA_TLS: 'true' }).kafkaTls, { ca: undefined, cert: undefined, key: undefined, paths: { ca: undefined, cert: undefined, key: undefined } });
  });

  it('names each missing or unreadable piece', () => {
    const refused = (env: Record<string, string>, name: RegExp) =>
      assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && name.test(e.message), JSON.stringify(env));
    refused({ OPAL_KAFKA_TLS_CA_FILE: join(dir, 'absent.pem') }, /OPAL_KAFKA_TLS_CA_FILE: cannot read a PEM file there/);
    refused({ OPAL_KAFKA_TLS_CA_FILE: notPem }, /OPAL_KAFKA_TLS_CA_FILE: cannot read a PEM file there: no PEM block/);
    refused({ OPAL_KAFKA_SASL_MECHANISM: 'plain', OPAL_KAFKA_SASL_USERNAME: 'opal' }, /OPAL_KAFKA_SASL_PASSWORD: required with OPAL_KAFKA_SASL_MECHANISM/);
    refused({ OPAL_KAFKA_SASL_USERNAME: 'opal', OPAL_KAFKA_SASL_PASSWORD: 'x' }, /OPAL_KAFKA_SASL_MECHANISM: required/);
    refused({ OPAL_KAFKA_SASL_MECHANISM: 'gssapi' }, /OPAL_KAFKA_SASL_MECHANISM/);
    refused({ OPAL_KAFKA_TLS_CERT_FILE: pem }, /OPAL_KAFKA_TLS_KEY_FILE: a client certificate and its key go together/);
    refused({ OPAL_KAFKA_TLS_CERT_FILE: pem, OPAL_KAFKA_TLS_KEY_FILE: example.otherKey }, /OPAL_KAFKA_TLS_KEY_FILE: with OPAL_KAFKA_TLS_CERT_FILE: the key is not the certificate's/);
    refused({ OPAL_KAFKA_TLS_CA_FILE: broken }, /OPAL_KAFKA_TLS_CA_FILE: its certificate does not parse/);
    refused({ OPAL_KAFKA_TLS_CA_FILE: brokenBundle }, /OPAL_KAFKA_TLS_CA_FILE: its certificate does not parse \(certificate 2 of 2 in the file\): /);
    refused({ OPAL_KAFKA_TLS_CA_FILE: keyOnly }, /OPAL_KAFKA_TLS_CA_FILE: its certificate does not parse: no certificate in it/);
  });
});

describe('loadConfig: MongoDB TLS files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-config-store-tls-'));
  const example = writeExampleCertificate(dir);
  const certKey = join(dir, 'client.pem');
  writeFileSync(certKey, readFileSync(example.cert, 'utf8') + readFileSync(example.key, 'utf8'));
  const mismatched = join(dir, 'mismatched.pem');
  writeFileSync(mismatched, readFileSync(example.cert, 'utf8') + readFileSync(example.otherKey, 'utf8'));
  const store = 'mongodb://db.example:27017/opal';
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('takes none unless given, and the files of OPAL_STORE_TLS_* or of the URL alike, to read again', () => {
    assert.equal(loadConfig({ OPAL_STORE: store }).storeTls, undefined);
    assert.equal(loadConfig({ OPAL_STORE: `${store}?tls=true` }).storeTls, undefined, 'TLS on the system CAs: nothing to read again');
    const env = loadConfig({ OPAL_STORE: store, OPAL_STORE_TLS_CA_FILE: example.cert, OPAL_STORE_TLS_CERT_FILE: example.cert, OPAL_STORE_TLS_KEY_FILE: example.key }).storeTls!;
    assert.deepEqual(env.paths, { ca: example.cert, cert: example.cert, key: example.key });
    assert.ok(env.ca?.startsWith('-----BEGIN CERTIFICATE-----') && env.key?.includes('PRIVATE KEY'));
    const url = loadConfig({ OPAL_STORE: `${store}?tls=true&tlsCAFile=${encodeURIComponent(example.cert)}&tlsCertificateKeyFile=${encodeURIComponent(certKey)}` }).storeTls!;
    assert.deepEqual(url.paths, { ca: example.cert, cert: certKey, key: certKey }, "the URL's one file holds the certificate and its key");
  });

  it('names what is wrong: a file it cannot read, a key not the certificate\'s, halves, two sources, TLS turned off, no MongoDB', () => {
    const refused = (env: Record<string, string>, name: RegExp) =>
      assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && name.test(e.message), JSON.stringify(env));
    refused({ OPAL_STORE: store, OPAL_STORE_TLS_CA_FILE: join(dir, 'absent.pem') }, /OPAL_STORE_TLS_CA_FILE: cannot read a PEM file there/);
    refused({ OPAL_STORE: store, OPAL_STORE_TLS_CERT_FILE: example.cert }, /OPAL_STORE_TLS_KEY_FILE: a client certificate and its key go together/);
    refused({ OPAL_STORE: store, OPAL_STORE_TLS_CERT_FILE: example.cert, OPAL_STORE_TLS_KEY_FILE: example.otherKey }, /OPAL_STORE_TLS_KEY_FILE: the key is not the certificate's/);
    refused({ OPAL_STORE: `${store}?tls=true&tlsCAFile=${join(dir, 'absent.pem')}` }, /OPAL_STORE: tlsCAFile ".*absent.pem": cannot read a PEM file there/);
    refused({ OPAL_STORE: `${store}?tls=true&tlsCertificateKeyFile=${mismatched}` }, /OPAL_STORE: tlsCertificateKeyFile: the key is not the certificate's/);
    refused({ OPAL_STORE: `${store}?tlsCAFile=${example.cert}`, OPAL_STORE_TLS_CA_FILE: example.cert }, /OPAL_STORE: names tlsCAFile while OPAL_STORE_TLS_\* name files too/);
    refused({ OPAL_STORE: `${store}?tls=false`, OPAL_STORE_TLS_CA_FILE: example.cert }, /OPAL_STORE: says tls=false while TLS files are given/);
    refused({ OPAL_STORE_TLS_CA_FILE: example.cert }, /OPAL_STORE_TLS_CA_FILE: only with a MongoDB store/);
  });
});

describe('loadConfig: admin tokens', () => {
  it('takes one token or several, comma-separated, and names a short one by its length, never its value', () => {
    assert.equal(loadConfig({}).adminTokens, undefined);
    const one = 'admin-token-0123456789abcdef';
    const two = 'admin-token-fedcba9876543210';
    assert.deepEqual(loadConfig({ OPAL_ADMIN_TOKEN: one }).adminTokens, [one]);
    assert.deepEqual(loadConfig({ OPAL_ADMIN_TOKEN: `${two}, ${one}` }).adminTokens, [two, one]);
    assert.throws(
      () => loadConfig({ OPAL_ADMIN_TOKEN: `${two},short-secret` }),
      (e: unknown) => e instanceof ConfigError && /OPAL_ADMIN_TOKEN: each token at least 24 characters .* \(got 41 characters\)/.test(e.message) && !e.message.includes('short-secret'),
    );
  });
});

describe('withoutPassword', () => {
  it('masks the password of a URL it would log, and leaves the rest', () => {
    assert.equal(withoutPassword('mongodb+srv://opal:s3cr%40t@cluster0.example.net/opal?tls=true'), 'mongodb+srv://opal:***@cluster0.example.net/opal?tls=true');
    assert.equal(withoutPassword('mongodb://127.0.0.1:27017/opal'), 'mongodb://127.0.0.1:27017/opal');
    assert.equal(withoutPassword('mongodb://h/opal?tls=true&tlsCertificateKeyFilePassword=k3y&tlsCAFile=/ca.pem'), 'mongodb://h/opal?tls=true&tlsCertificateKeyFilePassword=***&tlsCAFile=/ca.pem');
    assert.equal(withoutPassword('mongodb://opal@127.0.0.1/opal'), 'mongodb://opal@127.0.0.1/opal');
    assert.equal(withoutPassword('memory'), 'memory');
  });
});

describe('loadConfig: gRPC TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-config-grpc-tls-'));
  const example = writeExampleCertificate(dir);
  const pem = example.cert;
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is plaintext unless given a certificate and its key, and reads the files it names', () => {
    assert.equal(loadConfig({}).grpcTls, undefined);
    const on = loadConfig({ OPAL_GRPC_TLS_CERT_FILE: pem, OPAL_GRPC_TLS_KEY_FILE: example.key, OPAL_GRPC_TLS_CLIENT_CA_FILE: pem, OPAL_GRPC_TLS_SERVER_NAME: 'opal.internal' });
    assert.match(on.grpcTls!.cert, /BEGIN CERTIFICATE/);
    assert.deepEqual([typeof on.grpcTls!.clientCa, on.grpcTls!.ca, on.grpcTls!.serverName], ['string', undefined, 'opal.internal']);
    // The files are read again while the process runs (TlsFiles), every OPAL_TLS_RELOAD_MS.
    assert.deepEqual(on.grpcTls!.paths, { cert: pem, key: example.key, clientCa: pem });
    assert.deepEqual([on.tlsReloadMs, loadConfig({ OPAL_TLS_RELOAD_MS: '0' }).tlsReloadMs], [60_000, 0]);
  });

  it('names a key that is not the certificate\'s', () => {
    assert.throws(
      () => loadConfig({ OPAL_GRPC_TLS_CERT_FILE: pem, OPAL_GRPC_TLS_KEY_FILE: example.otherKey }),
      (e: unknown) => e instanceof ConfigError && /OPAL_GRPC_TLS_KEY_FILE: with OPAL_GRPC_TLS_CERT_FILE: the key is not the certificate's \(subject CN=opal-config-example\)/.test(e.message),
    );
    assert.throws(() => loadConfig({ OPAL_GRPC_TLS_CERT_FILE: example.key, OPAL_GRPC_TLS_KEY_FILE: example.key }), (e: unknown) => e instanceof ConfigError && /the certificate does not parse/.test(e.message));
  });

  it('names a certificate without its key, and the settings that need TLS without it', () => {
    assert.throws(() => loadConfig({ OPAL_GRPC_TLS_CERT_FILE: pem }), (e: unknown) => e instanceof ConfigError && /OPAL_GRPC_TLS_KEY_FILE: the gRPC port's certificate and its key go together/.test(e.message));
    assert.throws(
      () => loadConfig({ OPAL_GRPC_TLS_CA_FILE: pem, OPAL_GRPC_TLS_SERVER_NAME: 'opal.internal' }),
      (e: unknown) => e instanceof ConfigError && /OPAL_GRPC_TLS_CA_FILE: only with TLS/.test(e.message) && /OPAL_GRPC_TLS_SERVER_NAME: only with TLS/.test(e.message),
    );
    assert.throws(() => loadConfig({ OPAL_GRPC_TLS_CERT_FILE: join(dir, 'missing.pem'), OPAL_GRPC_TLS_KEY_FILE: pem }), (e: unknown) => e instanceof ConfigError && /OPAL_GRPC_TLS_CERT_FILE: cannot read a PEM file there/.test(e.message));
  });
});
