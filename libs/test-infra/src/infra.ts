import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startContainers } from './containers.js';

export type InfraService = 'kafka' | 'mongo' | 'chain';

/** A listener as production clusters have it: TLS with the CA to trust (a file), and a SASL/PLAIN user. */
export type SecureKafka = { readonly brokers: string; readonly caFile: string; readonly username: string; readonly password: string };

/**
 * A listener as production MongoDB servers have it: mutual TLS. `url` names the files in its
 * options (tlsCAFile, tlsCertificateKeyFile); the files: the CA and its key (to issue more
 * certificates), and the client's certificate and key, apart and together.
 */
export type SecureMongo = {
  readonly url: string;
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certKeyFile: string;
};

export type InfraEndpoints = {
  readonly kafkaBrokers?: string;
  /** The local broker's TLS + SASL listener; absent for servers given or from containers. */
  readonly kafkaSecure?: SecureKafka;
  readonly mongoUrl?: string;
  /** The local MongoDB-wire server's TLS listener; absent for servers given or from containers. */
  readonly mongoSecure?: SecureMongo;
  readonly chainRpcUrl?: string;
};

export type Infra =
  | { readonly skipped: false; readonly mode: 'local' | 'containers' | 'given'; readonly endpoints: InfraEndpoints }
  | { readonly skipped: true; readonly reason: string };

const SCRIPT_NAMES: Record<InfraService, string> = { kafka: 'kafka', mongo: 'ferretdb', chain: 'anvil' };
const GIVEN_ENV: Record<InfraService, { env: string; field: keyof InfraEndpoints }> = {
  kafka: { env: 'OPAL_KAFKA_BROKERS', field: 'kafkaBrokers' },
  mongo: { env: 'OPAL_MONGO_URL', field: 'mongoUrl' },
  chain: { env: 'OPAL_CHAIN_RPC_URL', field: 'chainRpcUrl' },
};

/**
 * The one switch between real servers for integration tests; the tests do not change:
 * - OPAL_SKIP_INFRA=1: skipped, with the reason to print;
 * - OPAL_KAFKA_BROKERS / OPAL_MONGO_URL / OPAL_CHAIN_RPC_URL: servers someone else runs, used as given;
 * - OPAL_INFRA=containers: Kafka and MongoDB from testcontainers (needs Docker), stopped at exit;
 * - otherwise: the project's local servers (`npm run infra:up`), started here when not running and
 *   left running for the next test file (`npm run infra:down` stops them).
 */
export async function ensureInfra(services: readonly InfraService[]): Promise<Infra> {
  if (process.env.OPAL_SKIP_INFRA === '1') {
    return { skipped: true, reason: 'OPAL_SKIP_INFRA=1: integration tests against real servers are skipped' };
  }
  if (services.every((s) => process.env[GIVEN_ENV[s].env])) {
    const endpoints = Object.fromEntries(services.map((s) => [GIVEN_ENV[s].field, process.env[GIVEN_ENV[s].env]]));
    return { skipped: false, mode: 'given', endpoints };
  }
  if (process.env.OPAL_INFRA === 'containers') {
    try {
      return { skipped: false, mode: 'containers', endpoints: await startContainers(services) };
    } catch (error) {
      if (!/container runtime strategy/.test((error as Error).message)) throw error;
      throw new Error(`OPAL_INFRA=containers: no container engine answers (testcontainers looks for Docker through DOCKER_HOST and its usual sockets); leave OPAL_INFRA unset to run on the project's local servers`, { cause: error });
    }
  }
  const all = await runInfraUp(services.map((s) => SCRIPT_NAMES[s]));
  const endpoints: Record<string, string> = {};
  for (const s of services) endpoints[GIVEN_ENV[s].field] = all[GIVEN_ENV[s].field]!;
  const secure =
    services.includes('kafka') && all['kafkaSecureBrokers']
      ? { kafkaSecure: { brokers: all['kafkaSecureBrokers'], caFile: all['kafkaCaFile']!, username: all['kafkaSaslUsername']!, password: all['kafkaSaslPassword']! } }
      : {};
  const secureMongo =
    services.includes('mongo') && all['mongoSecureUrl']
      ? {
          mongoSecure: {
            url: all['mongoSecureUrl'],
            caFile: all['mongoCaFile']!,
            caKeyFile: all['mongoCaKeyFile']!,
            certFile: all['mongoClientCertFile']!,
            keyFile: all['mongoClientKeyFile']!,
            certKeyFile: all['mongoClientCertKeyFile']!,
          },
        }
      : {};
  return { skipped: false, mode: 'local', endpoints: { ...endpoints, ...secure, ...secureMongo } };
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'scripts', 'infra', 'infra.mjs'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('scripts/infra/infra.mjs not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** `infra.mjs up <names> --json`: idempotent, so concurrent test files may all call it. */
function runInfraUp(names: readonly string[]): Promise<Record<string, string>> {
  return infraScript(['up', ...names, '--json']);
}

/**
 * Runs scripts/infra/infra.mjs with extra environment, e.g. a private instance for a fault test:
 * `infraScript(['up', 'kafka', '--json'], { OPAL_INFRA_INSTANCE: 'x', OPAL_KAFKA_PORT: '19092' })`.
 * Resolves with the JSON it printed last (`up --json`), or {} for the other verbs.
 */
export function infraScript(args: readonly string[], env: Record<string, string> = {}): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'scripts', 'infra', 'infra.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1);
      if (code === 0) resolve(last ? (JSON.parse(last) as Record<string, string>) : {});
      else reject(new Error(`infra ${args.join(' ')} failed (exit ${code}):\n${err}`));
    });
  });
}


export type Tool = { readonly skipped: false; readonly path: string } | { readonly skipped: true; readonly reason: string };

/**
 * A tool the tests run (helm, promtool): the binary OPAL_HELM or OPAL_PROMTOOL names, or the
 * project's own build of it (`infra.mjs tool <name>`, cached under .cache/). OPAL_SKIP_INFRA=1 skips
 * it with the servers.
 */
export async function ensureTool(name: 'helm' | 'promtool'): Promise<Tool> {
  if (process.env.OPAL_SKIP_INFRA === '1') return { skipped: true, reason: 'OPAL_SKIP_INFRA=1: tests that need provisioned tools are skipped' };
  const given = process.env[`OPAL_${name.toUpperCase()}`];
  if (given) return { skipped: false, path: given };
  const { [name]: path } = await infraScript(['tool', name, '--json']);
  return { skipped: false, path: path! };
}
