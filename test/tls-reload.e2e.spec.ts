// A certificate renewed on disk is served without a restart: TlsFiles on a real grpc-js server and
// a peer's channel (its client certificate), then `opal up` with its gRPC and HTTPS ports, as a
// Kubernetes Secret that cert-manager renews. Files caught half written are refused, and the
// certificate before them stays in use. Certificates made with openssl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGenericClientConstructor, Server, type Client, type ServiceDefinition } from '@grpc/grpc-js';
import { loadConfig, peerChannel, ReloadingServerCredentials, TlsFiles, type TlsPaths } from '@opal/service-runtime';
import { OpalProcess, call, grpcClient, makeTestCertificates, renewTestCertificate, wallet, withOutputOnFailure, type TestCertificates } from '@opal/testkit';
import { deleteTopics, dropDb, ensureInfra } from '@opal/test-infra';
import { openMongoClient, storeTlsFiles } from '@opal/cli';
import { sample, scrape } from './scale-out/metrics-scrape.js';

const NAME = 'opal.test';
const dir = mkdtempSync(join(tmpdir(), 'opal-tls-reload-'));
const certs = await makeTestCertificates(dir, NAME);
const skip = certs ? false : 'the openssl command is not installed (it makes the test certificates)';
after(() => rmSync(dir, { recursive: true, force: true }));

const read = (path: string) => readFileSync(path, 'utf8');
const serialOf = (path: string) => new X509Certificate(read(path)).serialNumber;

/** Writes `text` to `path` as a Secret volume changes a file: whole, in one step. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

/** The serial number of the certificate a TLS server on this port shows a client that trusts the test CA and names NAME. */
function servedSerial(port: number, alpn: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: NAME, ca: read(certs!.ca), ALPNProtocols: [alpn], cert: read(certs!.client.cert), key: read(certs!.client.key) }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

async function until<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `opal serve ingest` started with `env`, reading its TLS files again every 200 ms, its metrics on a port of its own. */
async function serveIngest(name: string, env: Record<string, string>): Promise<OpalProcess> {
  const node = new OpalProcess(join(dir, name), { command: ['serve', 'ingest'], env: { ...env, OPAL_TLS_RELOAD_MS: '200', OPAL_METRICS_PORT: '0', OPAL_INGEST_WORKERS: '0' } });
  await node.start();
  return node;
}

/** One unary method that answers with the serial number of the client certificate the server saw. */
const whoAmI: ServiceDefinition = {
  whoAmI: {
    path: '/opal.test.WhoAmI/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};
const WhoAmIClient = makeGenericClientConstructor(whoAmI, 'WhoAmI');
const ask = (client: Client) =>
  new Promise<string>((resolve, reject) => (client as unknown as Record<string, (req: Buffer, cb: (e: Error | null, r?: Buffer) => void) => void>).whoAmI!(Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!.toString()))));

describe('TlsFiles on a gRPC server and a peer channel', { skip, timeout: 60_000 }, () => {
  const live = join(dir, 'in-process');
  const paths = { server: { cert: join(live, 'server.crt'), key: join(live, 'server.key'), clientCa: join(live, 'ca.crt') }, peer: { cert: join(live, 'peer.crt'), key: join(live, 'peer.key'), ca: join(live, 'ca.crt') } };
  const filesOf = (port: string, p: TlsPaths) => new TlsFiles(port, p, { cert: read(p.cert), key: read(p.key), ...(p.clientCa && { clientCa: read(p.clientCa) }), ...(p.ca && { ca: read(p.ca) }) });
  let server: Server;
  let port = 0;
  let serverFiles: TlsFiles;
  let peerFiles: TlsFiles;
  const clients: Client[] = [];
  /** A new client, on a connection of its own (not one another client of the same target keeps). */
  const newClient = () => {
    const { credentials, options } = peerChannel({ files: peerFiles, serverName: NAME });
    const c = new WhoAmIClient(`127.0.0.1:${port}`, credentials, { ...options, 'grpc.use_local_subchannel_pool': 1 });
    clients.push(c);
    return c;
  };

  before(async () => {
    mkdirSync(live);
    copyFileSync(certs!.ca, join(live, 'ca.crt'));
    copyFileSync(certs!.server.cert, paths.server.cert);
    copyFileSync(certs!.server.key, paths.server.key);
    copyFileSync(certs!.client.cert, paths.peer.cert);
    copyFileSync(certs!.client.key, paths.peer.key);
    serverFiles = filesOf('grpc', paths.server);
    peerFiles = filesOf('peer', paths.peer);
    server = new Server();
    server.addService(whoAmI, { whoAmI: (c: { getAuthContext(): { sslPeerCertificate?: { serialNumber: string } } | null }, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.from(c.getAuthContext()?.sslPeerCertificate?.serialNumber ?? '')) });
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', new ReloadingServerCredentials(serverFiles), (e, p) => (e ? reject(e) : resolve(p))));
  });
  after(() => {
    for (const c of clients) c.close();
    server?.forceShutdown();
  });

  it('serves, and shows, a renewed certificate on new connections; connections open before keep going', async () => {
    const before = newClient();
    assert.equal(await ask(before), serialOf(certs!.client.cert), 'the server saw the peer certificate');
    assert.equal(await servedSerial(port, 'h2'), serialOf(certs!.server.cert));

    const server2 = await renewTestCertificate(certs!, dir, 'server-2', NAME);
    const peer2 = await renewTestCertificate(certs!, dir, 'peer-2', NAME);
    replace(paths.server.cert, read(server2.cert));
    replace(paths.server.key, read(server2.key));
    replace(paths.peer.cert, read(peer2.cert));
    replace(paths.peer.key, read(peer2.key));
    assert.equal((await serverFiles.reload()).kind, 'reloaded');
    assert.equal((await peerFiles.reload()).kind, 'reloaded');
    assert.equal((await serverFiles.reload()).kind, 'unchanged');

    assert.equal(await servedSerial(port, 'h2'), serialOf(server2.cert), 'a new connection gets the renewed server certificate');
    assert.equal(await ask(newClient()), serialOf(peer2.cert), 'a new channel shows the renewed peer certificate');
    assert.equal(await ask(before), serialOf(certs!.client.cert), 'the connection open before goes on as it began');
  });

  it('refuses a certificate without its key, and files it cannot read, keeping the certificate in use', async () => {
    const inUse = await servedSerial(port, 'h2');
    const server3 = await renewTestCertificate(certs!, dir, 'server-3', NAME);
    // Halfway through a rotation that writes one file and then the other.
    replace(paths.server.cert, read(server3.cert));
    const refused = await serverFiles.reload();
    assert.equal(refused.kind, 'refused');
    assert.match(refused.kind === 'refused' ? refused.error.message : '', /grpc TLS files: the key is not the certificate's .*; the ones in use stay/);
    assert.deepEqual(await serverFiles.reload(), { kind: 'refused', error: (refused as { error: Error }).error, first: false }, 'reported once, not at every read');
    assert.equal(await servedSerial(port, 'h2'), inUse);
    replace(paths.server.key, read(server3.key));
    assert.equal((await serverFiles.reload()).kind, 'reloaded');
    assert.equal(await servedSerial(port, 'h2'), serialOf(server3.cert));

    rmSync(paths.server.key);
    const missing = await serverFiles.reload();
    assert.equal(missing.kind, 'refused');
    assert.match(missing.kind === 'refused' ? missing.error.message : '', /grpc TLS files: ENOENT/);
    assert.equal(await servedSerial(port, 'h2'), serialOf(server3.cert));
    writeFileSync(paths.server.key, read(server3.key));
    assert.equal((await serverFiles.reload()).kind, 'unchanged');
  });
});

describe('opal up with its certificate renewed on disk', { skip, timeout: 120_000 }, () => {
  const live = join(dir, 'secret');
  const file = (name: string) => join(live, name);
  let node: OpalProcess;
  before(async () => {
    mkdirSync(live);
    copyFileSync(certs!.ca, file('ca.crt'));
    copyFileSync(certs!.server.cert, file('tls.crt'));
    copyFileSync(certs!.server.key, file('tls.key'));
    node = new OpalProcess(join(dir, 'up'), {
      env: {
        OPAL_GRPC_TLS_CERT_FILE: file('tls.crt'),
        OPAL_GRPC_TLS_KEY_FILE: file('tls.key'),
        OPAL_GRPC_TLS_CLIENT_CA_FILE: file('ca.crt'),
        OPAL_HTTP_TLS_CERT_FILE: file('tls.crt'),
        OPAL_HTTP_TLS_KEY_FILE: file('tls.key'),
        OPAL_TLS_RELOAD_MS: '200',
        OPAL_METRICS_PORT: '0',
      },
    });
    await node.start();
  });
  after(() => node?.stop());

  it('serves the renewed certificate on its gRPC and HTTPS ports, refusing a half-written renewal until it is whole', async () => {
    await withOutputOnFailure({ node }, async () => {
      const tls = { ca: read(certs!.ca), serverName: NAME, cert: read(certs!.client.cert), key: read(certs!.client.key) };
      const client = grpcClient(node.url, 'ingest', tls);
      await call(client, 'createDatanet', { datanetId: 'renewed', name: 'Renewed', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      const first = serialOf(certs!.server.cert);
      assert.deepEqual([await servedSerial(node.port, 'h2'), await servedSerial(node.httpPort, 'http/1.1')], [first, first]);
      const expiry = (m: string) => sample(m, 'opal_tls_certificate_expiry_timestamp_seconds', { port: 'grpc' });
      assert.equal(expiry(await scrape(node.metricsPort)), Math.floor(Date.parse(new X509Certificate(read(certs!.server.cert)).validTo) / 1000));

      const renewed = await renewTestCertificate(certs!, dir, 'up-renewed', NAME);
      replace(file('tls.crt'), read(renewed.cert));
      // Its key is not there yet: both ports refuse the pair once, and keep serving the first certificate.
      const refused = await until('refusals counted', () => scrape(node.metricsPort), (m) => ['grpc', 'http'].every((port) => sample(m, 'opal_tls_reloads_total', { port, outcome: 'refused' }) === 1));
      assert.equal(sample(refused, 'opal_tls_reloads_total', { port: 'grpc', outcome: 'reloaded' }), 0);
      assert.deepEqual([await servedSerial(node.port, 'h2'), await servedSerial(node.httpPort, 'http/1.1')], [first, first]);
      replace(file('tls.key'), read(renewed.key));
      const next = serialOf(renewed.cert);
      await until('the renewed certificate served', async () => [await servedSerial(node.port, 'h2'), await servedSerial(node.httpPort, 'http/1.1')], (s) => s.every((x) => x === next));
      const m = await scrape(node.metricsPort);
      for (const port of ['grpc', 'http']) {
        assert.equal(sample(m, 'opal_tls_reloads_total', { port, outcome: 'reloaded' }), 1, port);
        assert.equal(sample(m, 'opal_tls_reloads_total', { port, outcome: 'refused' }), 1, `${port}: reported once`);
      }
      assert.equal(expiry(m), Math.floor(Date.parse(new X509Certificate(read(renewed.cert)).validTo) / 1000));
      assert.match(node.output(), /"reason":"grpc TLS files: the key is not the certificate's \(subject CN=opal.test\); the ones in use stay".*TLS files changed but were not taken/);

      // The client's connection from before goes on; a new client's gets the renewed certificate and works.
      assert.equal((await call(client, 'getDatanet', { datanetId: 'renewed' })).name, 'Renewed');
      const fresh = grpcClient(node.url, 'ingest', tls);
      assert.equal((await call(fresh, 'getDatanet', { datanetId: 'renewed' })).name, 'Renewed');
      client.close();
      fresh.close();
    });
  });
});

// MongoDB too: a service alone on Kafka keeps its read models and content there.
const kafka = await ensureInfra(['kafka', 'mongo']);
const secure = kafka.skipped ? undefined : kafka.endpoints.kafkaSecure;

describe('opal serve on Kafka with its CA file renewed on disk', { skip: secure ? false : kafka.skipped ? kafka.reason : 'no TLS listener among the Kafka servers', timeout: 120_000 }, () => {
  const live = join(dir, 'kafka-secret');
  const caFile = join(live, 'ca.crt');
  const prefix = `opal-tls-reload-${process.pid}.`;
  const store = kafka.skipped ? '' : kafka.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_tls_reload_kafka_${process.pid}`);
  let node: OpalProcess;
  before(async () => {
    mkdirSync(live);
    copyFileSync(secure!.caFile, caFile);
    node = await serveIngest('serve-kafka', {
      OPAL_EVENT_LOG: `kafka://${secure!.brokers}`,
      OPAL_STORE: store,
      OPAL_KAFKA_TOPIC_PREFIX: prefix,
      OPAL_KAFKA_TLS_CA_FILE: caFile,
      OPAL_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      OPAL_KAFKA_SASL_USERNAME: secure!.username,
      OPAL_KAFKA_SASL_PASSWORD: secure!.password,
    });
  });
  after(async () => {
    await node?.stop();
    if (!kafka.skipped) await deleteTopics([kafka.endpoints.kafkaBrokers!], prefix).catch(() => {});
    if (store) await dropDb(store).catch(() => {});
  });

  it('refuses a CA file caught half written, and takes a renewed bundle, serving throughout', async () => {
    await withOutputOnFailure({ node }, async () => {
      const client = grpcClient(node.url, 'ingest');
      await call(client, 'createDatanet', { datanetId: 'kafka-ca', name: 'Kafka CA', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      const reloads = (m: string, outcome: string) => sample(m, 'opal_tls_reloads_total', { port: 'kafka', outcome });
      const expiry = (m: string) => sample(m, 'opal_tls_certificate_expiry_timestamp_seconds', { port: 'kafka' });
      const brokersCa = new X509Certificate(read(secure!.caFile));
      assert.equal(expiry(await scrape(node.metricsPort)), Math.floor(Date.parse(brokersCa.validTo) / 1000), "the CA's expiry, as the client shows no certificate");

      const half = read(secure!.caFile).slice(0, 200);
      replace(caFile, half);
      await until('the half-written CA refused', () => scrape(node.metricsPort), (m) => reloads(m, 'refused') === 1);
      assert.match(node.output(), /"port":"kafka","reason":"kafka TLS files: the CA does not parse: .*; the ones in use stay".*TLS files changed but were not taken/);

      // Another CA published beside the brokers', as a cluster CA is renewed: the one of the two
      // that expires first (the test CA, valid two days) counts, wherever it is in the file.
      const expires = (c: X509Certificate) => Math.floor(Date.parse(c.validTo) / 1000);
      const soonest = new X509Certificate(read(certs!.ca));
      replace(caFile, `${read(secure!.caFile)}\n${read(certs!.ca)}`);
      const m = await until('the renewed bundle taken', () => scrape(node.metricsPort), (text) => reloads(text, 'reloaded') === 1);
      assert.equal(reloads(m, 'refused'), 1);
      assert.ok(expires(soonest) < expires(brokersCa), 'the second certificate of the bundle expires first');
      assert.equal(expiry(m), expires(soonest), "the expiry of the bundle's certificate that expires first");
      await call(client, 'createDatanet', { datanetId: 'kafka-ca-2', name: 'Kafka CA 2', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      assert.equal((await call(client, 'getDatanet', { datanetId: 'kafka-ca-2' })).name, 'Kafka CA 2');
      client.close();
    });
  });
});

const mongo = await ensureInfra(['kafka', 'mongo']);
const secureMongo = mongo.skipped ? undefined : mongo.endpoints.mongoSecure;
const mongoSkip = skip || (secureMongo ? false : mongo.skipped ? mongo.reason : 'no TLS listener among the MongoDB-wire servers');

/** The MongoDB URL of the TLS listener for database `db`, with its options but not its files. */
function secureMongoUrl(db: string, options: string): string {
  const url = new URL(secureMongo!.url);
  return `mongodb://${url.host}/${db}?${options}`;
}

/** A database of the local server, by its plaintext URL (to drop it after). */
const plainMongoUrl = (db: string) => (mongo.skipped ? undefined : mongo.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/${db}`));

/**
 * The local server's CA and client files, copied to `live` as a Secret of kind kubernetes.io/tls
 * mounts them; and `renew`, which issues another client certificate from that CA.
 */
function mongoSecret(live: string): { ca: string; cert: string; key: string; renew(name: string): Promise<{ cert: string; key: string }> } {
  mkdirSync(live, { recursive: true });
  const files = { ca: join(live, 'ca.crt'), cert: join(live, 'tls.crt'), key: join(live, 'tls.key') };
  copyFileSync(secureMongo!.caFile, files.ca);
  copyFileSync(secureMongo!.certFile, files.cert);
  copyFileSync(secureMongo!.keyFile, files.key);
  // Issued from copies, so the server's folder (its CA's serial file) stays as it was.
  const issuer: TestCertificates = { ...certs!, ca: join(live, 'issuer.crt'), caKey: join(live, 'issuer.key') };
  copyFileSync(secureMongo!.caFile, issuer.ca);
  copyFileSync(secureMongo!.caKeyFile, issuer.caKey);
  return { ...files, renew: (name) => renewTestCertificate(issuer, live, name, 'opal') };
}

describe('a MongoDB client over mutual TLS, its files renewed on disk', { skip: mongoSkip, timeout: 60_000 }, () => {
  const db = `opal_tls_client_${process.pid}`;
  after(async () => {
    const url = plainMongoUrl(db);
    if (url) await dropDb(url).catch(() => {});
  });

  it('opens each new connection with the files as they are then: a CA that does not vouch for the server fails it, the renewed certificate passes', async () => {
    const live = mongoSecret(join(dir, 'mongo-client'));
    // Idle connections are closed after 100 ms: the next call then opens one, with the files of the moment.
    const config = loadConfig({
      OPAL_STORE: secureMongoUrl(db, 'maxIdleTimeMS=100&serverSelectionTimeoutMS=1500'),
      OPAL_STORE_TLS_CA_FILE: live.ca,
      OPAL_STORE_TLS_CERT_FILE: live.cert,
      OPAL_STORE_TLS_KEY_FILE: live.key,
    });
    const files = storeTlsFiles(config)!;
    const client = await openMongoClient(config, files);
    try {
      const probe = client.db().collection<{ _id: string; n: number }>('probe');
      await probe.insertOne({ _id: 'a', n: 1 });
      assert.equal(files.certificate.serialNumber, serialOf(secureMongo!.certFile), "the client certificate's expiry counts");

      // Another CA (the test one): the server's certificate no longer checks out on a new connection.
      replace(live.ca, read(certs!.ca));
      assert.equal((await files.reload()).kind, 'reloaded');
      await new Promise((r) => setTimeout(r, 300));
      await assert.rejects(probe.findOne({ _id: 'a' }), /certificate/);

      // The server's CA again, and a renewed client certificate from it.
      const renewed = await live.renew('renewed');
      replace(live.ca, read(secureMongo!.caFile));
      replace(live.cert, read(renewed.cert));
      replace(live.key, read(renewed.key));
      assert.equal((await files.reload()).kind, 'reloaded');
      assert.equal(files.certificate.serialNumber, serialOf(renewed.cert));
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await probe.findOne({ _id: 'a' }), { _id: 'a', n: 1 });
    } finally {
      await client.close();
    }
  });
});

describe('opal serve on MongoDB over mutual TLS with its client certificate renewed on disk', { skip: mongoSkip, timeout: 120_000 }, () => {
  const db = `opal_tls_serve_${process.pid}`;
  const prefix = `opal-tls-mongo-${process.pid}.`;
  const live = secureMongo ? mongoSecret(join(dir, 'mongo-secret')) : undefined;
  let node: OpalProcess;
  before(async () => {
    node = await serveIngest('serve-mongo', {
      OPAL_EVENT_LOG: `kafka://${mongo.skipped ? '' : mongo.endpoints.kafkaBrokers}`,
      OPAL_KAFKA_TOPIC_PREFIX: prefix,
      OPAL_STORE: secureMongoUrl(db, 'maxIdleTimeMS=100'),
      OPAL_STORE_TLS_CA_FILE: live!.ca,
      OPAL_STORE_TLS_CERT_FILE: live!.cert,
      OPAL_STORE_TLS_KEY_FILE: live!.key,
    });
  });
  after(async () => {
    await node?.stop();
    if (mongo.skipped) return;
    await deleteTopics([mongo.endpoints.kafkaBrokers!], prefix).catch(() => {});
    await dropDb(plainMongoUrl(db)!).catch(() => {});
  });

  it("keeps its read models in MongoDB over TLS, shows its certificate's expiry, and takes the renewed one", async () => {
    await withOutputOnFailure({ node }, async () => {
      const client = grpcClient(node.url, 'ingest');
      await call(client, 'createDatanet', { datanetId: 'mongo-tls', name: 'Mongo TLS', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      assert.equal((await call(client, 'getDatanet', { datanetId: 'mongo-tls' })).name, 'Mongo TLS');
      const reloads = (m: string, outcome: string) => sample(m, 'opal_tls_reloads_total', { port: 'mongodb', outcome });
      const expiry = (m: string) => sample(m, 'opal_tls_certificate_expiry_timestamp_seconds', { port: 'mongodb' });
      assert.equal(expiry(await scrape(node.metricsPort)), Math.floor(Date.parse(new X509Certificate(read(live!.cert)).validTo) / 1000));

      // A key that is not the certificate's (the renewal caught halfway): refused, the one in use stays.
      const renewed = await live!.renew('renewed');
      replace(live!.cert, read(renewed.cert));
      await until('the certificate without its key refused', () => scrape(node.metricsPort), (m) => reloads(m, 'refused') === 1);
      assert.match(node.output(), /"port":"mongodb","reason":"mongodb TLS files: the key is not the certificate's/);
      replace(live!.key, read(renewed.key));
      const m = await until('the renewed certificate taken', () => scrape(node.metricsPort), (text) => reloads(text, 'reloaded') === 1);
      assert.equal(expiry(m), Math.floor(Date.parse(new X509Certificate(read(renewed.cert)).validTo) / 1000));
      // Idle connections closed meanwhile: these calls' connections are opened with the renewed certificate.
      await new Promise((r) => setTimeout(r, 300));
      await call(client, 'createDatanet', { datanetId: 'mongo-tls-2', name: 'Mongo TLS 2', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      assert.equal((await call(client, 'getDatanet', { datanetId: 'mongo-tls-2' })).name, 'Mongo TLS 2');
      client.close();
    });
  });
});
