// Versions, ports and folders of the locally provisioned servers. Every value can be overridden
// by environment, so CI, a developer and two worktrees side by side can each pick their own.
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function port(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}: expected a TCP port, got '${raw}'`);
  return n;
}

export function loadConfig() {
  const cache = resolve(process.env.OPAL_INFRA_CACHE ?? join(ROOT, '.cache', 'infra'));
  const host = '127.0.0.1';
  // A second set of servers beside the usual one (a fault test restarting its own broker, say):
  // installs are shared, pid files, data and logs are the instance's own. Give it other ports too.
  const instance = process.env.OPAL_INFRA_INSTANCE ?? '';
  if (instance && !/^[a-z0-9-]+$/.test(instance)) throw new Error(`OPAL_INFRA_INSTANCE: use a-z, 0-9 and '-', got '${instance}'`);
  const state = instance ? join(cache, 'instances', instance) : cache;
  const kafkaVersion = process.env.OPAL_KAFKA_VERSION ?? '4.4.0';
  const ferretVersion = process.env.OPAL_FERRETDB_VERSION ?? 'v1.24.2';
  const helmVersion = process.env.OPAL_HELM_VERSION ?? 'v3.16.4';
  // The Prometheus module's version (it numbers the 3.x releases v0.3xx).
  const promtoolVersion = process.env.OPAL_PROMTOOL_VERSION ?? 'v0.316.0';
  return {
    cache,
    stateDir: state,
    host,
    runDir: join(state, 'run'),
    logDir: join(state, 'logs'),
    confDir: join(state, 'conf'),
    kafka: {
      version: kafkaVersion,
      scala: '2.13',
      port: port('OPAL_KAFKA_PORT', 9092),
      controllerPort: port('OPAL_KAFKA_CONTROLLER_PORT', 9093),
      // A second listener as production clusters have it: TLS (a self-signed certificate made here)
      // with SASL (PLAIN and SCRAM-SHA-512), user `opal`. 0 turns it off; instances beside the usual
      // one have none unless given a port.
      securePort: process.env.OPAL_KAFKA_SECURE_PORT === '0' ? 0 : port('OPAL_KAFKA_SECURE_PORT', instance ? 0 : 9094),
      saslUser: 'opal',
      // A test server's, on loopback only.
      saslPassword: 'opal-local-secret',
      tlsDir: join(state, 'conf', 'kafka-tls'),
      // Fixed so that a re-format of an existing data folder is recognised instead of clashing.
      clusterId: process.env.OPAL_KAFKA_CLUSTER_ID ?? 'b3BhbC1sb2NhbC1rYWZrYQ',
      heap: process.env.OPAL_KAFKA_HEAP ?? '512m',
      home: join(cache, 'kafka', kafkaVersion),
      dataDir: join(state, 'data', 'kafka'),
    },
    ferretdb: {
      version: ferretVersion,
      port: port('OPAL_MONGO_PORT', 27017),
      debugPort: port('OPAL_FERRETDB_DEBUG_PORT', 27088),
      // A second listener as production servers have it: mutual TLS (a CA, server and client
      // certificates made here with openssl). 0 turns it off; instances beside the usual one have
      // none unless given a port.
      tlsPort: process.env.OPAL_MONGO_TLS_PORT === '0' ? 0 : port('OPAL_MONGO_TLS_PORT', instance ? 0 : 27018),
      tlsDir: join(state, 'conf', 'ferretdb-tls'),
      home: join(cache, 'ferretdb', ferretVersion),
      dataDir: join(state, 'data', 'ferretdb'),
    },
    // A tool, not a server: renders and lints deploy/helm in the tests.
    helm: {
      version: helmVersion,
      home: join(cache, 'helm', helmVersion),
    },
    // A tool too: checks and unit-tests the chart's alerting rules.
    promtool: {
      version: promtoolVersion,
      home: join(cache, 'promtool', promtoolVersion),
    },
    anvil: {
      port: port('OPAL_CHAIN_PORT', 8545),
      chainId: Number(process.env.OPAL_CHAIN_ID ?? 31337),
    },
  };
}

/** The endpoints the rest of the project reads (same names as the services' configuration). */
export function endpointsOf(config, { secureKafka = false, secureMongo = false } = {}) {
  const k = config.kafka;
  const f = config.ferretdb;
  const mongoTls = {
    mongoCaFile: join(f.tlsDir, 'ca.pem'),
    // The CA's key, to issue more certificates (a test renewing its client certificate).
    mongoCaKeyFile: join(f.tlsDir, 'ca.key'),
    mongoClientCertFile: join(f.tlsDir, 'client.crt'),
    mongoClientKeyFile: join(f.tlsDir, 'client.key'),
    // The certificate and its key in one file, as MongoDB's URL option takes them.
    mongoClientCertKeyFile: join(f.tlsDir, 'client.pem'),
  };
  return {
    kafkaBrokers: `${config.host}:${k.port}`,
    // The TLS + SASL listener, where our broker has one: its address, the CA to trust, the user.
    ...(secureKafka && k.securePort
      ? { kafkaSecureBrokers: `${config.host}:${k.securePort}`, kafkaCaFile: join(k.tlsDir, 'ca.pem'), kafkaSaslUsername: k.saslUser, kafkaSaslPassword: k.saslPassword }
      : {}),
    mongoUrl: `mongodb://${config.host}:${config.ferretdb.port}/opal`,
    // The TLS listener, where ours has one: a URL naming its files, and the files.
    ...(secureMongo && f.tlsPort
      ? {
          mongoSecureUrl: `mongodb://${config.host}:${f.tlsPort}/opal?tls=true&tlsCAFile=${encodeURIComponent(mongoTls.mongoCaFile)}&tlsCertificateKeyFile=${encodeURIComponent(mongoTls.mongoClientCertKeyFile)}`,
          ...mongoTls,
        }
      : {}),
    chainRpcUrl: `http://${config.host}:${config.anvil.port}`,
  };
}
