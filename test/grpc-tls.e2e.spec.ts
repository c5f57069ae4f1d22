// TLS on the gRPC port, with client certificates (mutual TLS): `opal up` takes calls only from
// clients that trust its CA, check its name and show a certificate its client CA signed; plain
// HTTP probes answer beside it. Two ingest replicas on Kafka send each other commands over it.
// Real processes, real clients, certificates made with openssl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { datanetStream } from '@opal/ingest';
import { cursorKey, type KafkaEventLog } from '@opal/event-log-kafka';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { OpalProcess, call, clientStream, grpcClient, servingStatus, makeTestCertificates, signContribution, wallet, withOutputOnFailure, type TestCertificates } from '@opal/testkit';
import { ServeProcess, waitDrained } from './scale-out/serve-process.js';
import { settledOwners } from './scale-out/command-owners.js';
import { sample, scrape } from './scale-out/metrics-scrape.js';
import { brokers, groupsOf, platformLog, scenario, skip as noKafka } from './scale-out/fault-kit.js';

const NAME = 'opal.test';
const dir = mkdtempSync(join(tmpdir(), 'opal-grpc-tls-'));
const certs = await makeTestCertificates(dir, NAME);
const skip = certs ? false : 'the openssl command is not installed (it makes the test certificates)';

const read = (path: string) => readFileSync(path, 'utf8');
/** A client that trusts the test CA and checks the server's name, showing `who`'s certificate. */
const tlsOf = (c: TestCertificates, who?: 'client' | 'server', serverName = NAME) => ({
  ca: read(c.ca),
  serverName,
  ...(who && { cert: read(c[who].cert), key: read(c[who].key) }),
});
const serverEnv = (c: TestCertificates) => ({
  OPAL_GRPC_TLS_CERT_FILE: c.server.cert,
  OPAL_GRPC_TLS_KEY_FILE: c.server.key,
  OPAL_GRPC_TLS_CLIENT_CA_FILE: c.ca,
  OPAL_GRPC_TLS_CA_FILE: c.ca,
  OPAL_GRPC_TLS_SERVER_NAME: NAME,
});
const unreachable = (e: ServiceError) => e.code === status.UNAVAILABLE;

after(() => rmSync(dir, { recursive: true, force: true }));

describe('gRPC over mutual TLS', { skip, timeout: 120_000 }, () => {
  let node: OpalProcess;
  before(async () => {
    node = new OpalProcess(join(dir, 'up'), {
      env: { ...serverEnv(certs!), OPAL_HTTP_TLS_CERT_FILE: certs!.server.cert, OPAL_HTTP_TLS_KEY_FILE: certs!.server.key, OPAL_METRICS_PORT: '0', OPAL_SHUTDOWN_DRAIN_MS: '1500' },
    });
    await node.start();
  });
  after(() => node?.stop());

  it('answers a client that trusts its CA, checks its name and shows a certificate; refuses the others', async () => {
    await withOutputOnFailure({ node }, async () => {
      const good = grpcClient(node.url, 'ingest', tlsOf(certs!, 'client'));
      await call(good, 'createDatanet', { datanetId: 'tls-net', name: 'TLS', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      assert.equal((await call(good, 'getDatanet', { datanetId: 'tls-net' })).name, 'TLS');
      assert.equal(await servingStatus(node.url, '', tlsOf(certs!, 'client')), 'SERVING');
      good.close();
      const attempts: [string, ReturnType<typeof grpcClient>][] = [
        ['plaintext', grpcClient(node.url, 'ingest')],
        ['no client certificate', grpcClient(node.url, 'ingest', tlsOf(certs!))],
        ['another name', grpcClient(node.url, 'ingest', tlsOf(certs!, 'client', 'elsewhere.test'))],
      ];
      for (const [what, client] of attempts) {
        await assert.rejects(call(client, 'getDatanet', { datanetId: 'tls-net' }, undefined), unreachable, what);
        client.close();
      }
    });
  });

  it('serves the OpenAI-compatible API over HTTPS with the same certificate, and no plain HTTP there', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port: node.httpPort, path: '/v1/models', ca: read(certs!.ca), servername: NAME }, (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(res.status, 401, 'it asks for a tenant key');
    assert.match(res.body, /invalid_api_key/);
    await assert.rejects(fetch(`http://127.0.0.1:${node.httpPort}/v1/models`));
  });

  it('serves plain HTTP probes beside it: /livez, and /readyz until it drains', async () => {
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${node.metricsPort}${path}`)).status;
    assert.equal(await get('/livez'), 200);
    // Not ready at its start until its read models have applied the log, a moment here.
    let ready = 0;
    for (let i = 0; i < 600 && ready !== 200; i++) if ((ready = await get('/readyz')) !== 200) await new Promise((r) => setTimeout(r, 50));
    assert.equal(ready, 200);
    node.child!.kill('SIGTERM');
    for (let i = 0; i < 40 && ready === 200; i++) {
      ready = await get('/readyz');
      if (ready === 200) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(ready, 503, 'not ready once it drains');
    assert.equal(await get('/livez'), 200, 'still live while it drains');
  });
});

describe('ingest replicas sending commands to each other over mutual TLS', { skip: skip || noKafka, timeout: 180_000 }, () => {
  const s = scenario('grpc-tls');
  const replicas: ServeProcess[] = [];
  let log: KafkaEventLog | undefined;
  after(async () => {
    for (const r of replicas) await r.kill();
    await log?.close();
    await dropDb(s.url).catch(() => {});
    await deleteTopics(brokers, s.prefix).catch(() => {});
  });

  it('a client stream to one replica on the other one\'s Datanet goes on to it, and every item is accepted', async () => {
    for (const i of [0, 1]) {
      replicas.push(new ServeProcess('ingest', { ...s.env, ...serverEnv(certs!), OPAL_DATA_DIR: join(dir, `replica-${i}`), OPAL_ADVERTISE_HOST: '127.0.0.1', OPAL_METRICS_PORT: '0' }));
    }
    for (const r of replicas) await r.start();
    await withOutputOnFailure({ first: replicas[0]!, second: replicas[1]! }, async () => {
      log = await platformLog(brokers, s.prefix);
      const table = await settledOwners(brokers, `${s.prefix}owners.ingest`, 2);
      const owned = (id: string) => {
        const { topic, partition } = log!.locate(datanetStream(id));
        return table.get(cursorKey(topic, partition)) === replicas[1]!.url;
      };
      const datanetId = Array.from({ length: 50 }, (_, i) => `tls-routed-${i}`).find(owned)!;
      assert.ok(datanetId, 'a Datanet the second replica owns');
      const client = grpcClient(replicas[0]!.url, 'ingest', tlsOf(certs!, 'client'));
      await call(client, 'createDatanet', { datanetId, name: 'Routed over TLS', dataKind: 'text', license: 'MIT', owner: wallet(0).address });
      // The replicas connect to each other as the group names them; wait until the first has.
      await new Promise((r) => setTimeout(r, 1000));
      const w = wallet(77);
      const items = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const content = Buffer.from(`tls item ${i}: ${Array.from({ length: 20 }, (_, k) => `w${(i * 389 + k * 97) % 4099}`).join(' ')}`);
          return { datanetId, content, contributor: w.address, nonce: String(i + 1), signature: await signContribution(w, datanetId, content, BigInt(i + 1)) };
        }),
      );
      const batch = await clientStream(client, 'submitContributions', items);
      assert.deepEqual(batch.results.map((r: { status: string }) => r.status), items.map(() => 'ACCEPTED'));
      const forwarded = sample(await scrape(replicas[0]!.metricsPort), 'opal_commands_forwarded_total', { grpc_method: 'SubmitContributions', outcome: 'forwarded' }) ?? 0;
      assert.equal(forwarded, items.length, 'every item went on to the owner, over TLS');
      await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
      assert.equal((await call(client, 'getDatanet', { datanetId })).accepted, items.length);
      client.close();
    });
  });
});
