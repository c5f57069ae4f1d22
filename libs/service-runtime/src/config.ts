import { join, resolve, dirname } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { checkedCa, checkedPair, readPemFile, type ClientTls, type TlsPaths, type TlsPem } from './tls-files.js';
import { storeTlsOf } from './store-tls-config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

/** `ingest=6,inference=12`: partitions by domain, 1 to 1000 each. */
const domainPartitions = z.string().transform((v, ctx) => {
  const out: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^([A-Za-z0-9._-]+)=(\d+)$/.exec(part.trim());
    const n = Number(m?.[2]);
    if (!m || n < 1 || n > 1000) {
      ctx.addIssue({ code: 'custom', message: `'${part}': give domain=partitions (1 to 1000), comma-separated, e.g. ingest=6,inference=12` });
      return z.NEVER;
    }
    out[m[1]!] = n;
  }
  return out;
});

/** A PEM file's path, read at load: its text. */
export const pemFile = z.string().transform((path, ctx) => {
  try {
    return readPemFile(path);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** Environment variables, one to one with the Helm chart's values (deploy/helm/values.yaml). */
const schema = z.object({
  OPAL_DATA_DIR: z.string().min(1).default(join(repoRoot, '.opal', 'data')),
  OPAL_GRPC_HOST: z.string().min(1).default('127.0.0.1'),
  OPAL_GRPC_PORT: z.coerce.number().int().min(0).max(65535).default(50051),
  /** Prometheus /metrics of the process, on OPAL_GRPC_HOST; 0 picks a free port, -1 (the default) serves none. */
  OPAL_METRICS_PORT: z.coerce.number().int().min(-1).max(65535).default(-1),
  /** OpenTelemetry: an OTLP/HTTP collector (spans go to <url>/v1/traces); unset, no tracing. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url('a URL such as http://collector:4318').optional(),
  /** The service name spans carry (default opal-<service>, or opal for several). */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  OPAL_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  OPAL_EVENT_LOG: z.string().regex(/^(embedded|kafka:\/\/.+)$/, 'embedded or kafka://host:port').default('embedded'),
  OPAL_STORE: z.string().regex(/^(memory|mongodb(\+srv)?:\/\/.+)$/, 'memory, mongodb://host:port/db or mongodb+srv://host/db').default('memory'),
  OPAL_KAFKA_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, . _ -').default('opal.'),
  OPAL_KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(3),
  OPAL_KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(16).default(1),
  /** Kafka only: a topic per service (domains), or all streams in one topic (single, as clusters written before). */
  OPAL_KAFKA_TOPIC_LAYOUT: z.enum(['domains', 'single']).default('domains'),
  /** Kafka only: partitions of some domain topics, e.g. ingest=6,inference=12 (the others: OPAL_KAFKA_PARTITIONS). */
  OPAL_KAFKA_DOMAIN_PARTITIONS: domainPartitions.optional(),
  /** Kafka only: MiB of records the log's index keeps in memory; older ones go to <data dir>/kafka-index. */
  OPAL_KAFKA_INDEX_MEMORY_MB: z.coerce.number().int().min(0).max(1 << 20).default(256),
  /** Kafka only: keep the log's index in <data dir>/kafka-index across restarts (a snapshot, then only the log after it is read). */
  OPAL_KAFKA_INDEX_PERSIST: bool.default(true),
  /** TLS on the gRPC port: this server's certificate (chain) and key, PEM. Unset: plaintext. */
  OPAL_GRPC_TLS_CERT_FILE: pemFile.optional(),
  OPAL_GRPC_TLS_KEY_FILE: pemFile.optional(),
  /** With TLS: clients must show a certificate this CA signed (mutual TLS); replicas show theirs to each other. */
  OPAL_GRPC_TLS_CLIENT_CA_FILE: pemFile.optional(),
  /** With TLS: the CA other replicas' certificates are checked against when one sends another commands (default: the system's). */
  OPAL_GRPC_TLS_CA_FILE: pemFile.optional(),
  /** With TLS: the name other replicas' certificates are checked for (they are reached by IP; default: that address). */
  OPAL_GRPC_TLS_SERVER_NAME: z.string().regex(/^[A-Za-z0-9.-]+$/, 'a DNS name').optional(),
  /** How often this process's TLS files (its ports', and Kafka's) are read again, so a renewed certificate is used without a restart (0: never). */
  OPAL_TLS_RELOAD_MS: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  /** Kafka only: TLS to the brokers, trusting the system's CAs, or OPAL_KAFKA_TLS_CA_FILE's (which implies TLS). */
  OPAL_KAFKA_TLS: bool.default(false),
  OPAL_KAFKA_TLS_CA_FILE: pemFile.optional(),
  /** Kafka only: this client's certificate and key, for brokers that ask for one (mutual TLS). */
  OPAL_KAFKA_TLS_CERT_FILE: pemFile.optional(),
  OPAL_KAFKA_TLS_KEY_FILE: pemFile.optional(),
  /** Kafka only: SASL authentication, with OPAL_KAFKA_SASL_USERNAME and OPAL_KAFKA_SASL_PASSWORD. */
  OPAL_KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  OPAL_KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  OPAL_KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /**
   * MongoDB only: TLS to the server, trusting this CA (the system's without it), showing this client
   * certificate and key where the server asks for one (mutual TLS); each implies TLS. Read again
   * while the process runs, as the URL's own tlsCAFile and tlsCertificateKeyFile are (give either).
   */
  OPAL_STORE_TLS_CA_FILE: pemFile.optional(),
  OPAL_STORE_TLS_CERT_FILE: pemFile.optional(),
  OPAL_STORE_TLS_KEY_FILE: pemFile.optional(),
  OPAL_FSYNC: bool.default(true),
  /**
   * After a stop signal, how long the process keeps serving while its health says NOT_SERVING, so
   * load balancers and Kubernetes endpoints stop sending it calls first (the chart sets 5000).
   */
  OPAL_SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(300_000).default(0),
  /** Then, how long the calls already running get to finish once no new one is taken; those left are cut. */
  OPAL_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(300_000).default(20_000),
  OPAL_CHAIN_ID: z.coerce.number().int().positive().default(31337),
  OPAL_SNAPSHOT_EVERY: z.coerce.number().int().positive().default(50_000),
  OPAL_INGEST_WORKERS: z.coerce.number().int().min(0).max(64).default(Math.max(1, availableParallelism() - 1)),
  /** Memory the Datanets' write models may hold in an ingest process; the least recently used past it are loaded again when next used. */
  OPAL_DATANET_CACHE_MB: z.coerce.number().int().min(1).max(1 << 24).default(2048),
  /**
   * Kafka only: the host other processes reach this one's gRPC port at (in Kubernetes, the pod's IP).
   * Set, the processes of a service send each command to the one that owns its stream's partition.
   */
  /**
   * The token admin calls carry (`authorization: Bearer <token>`): creating and crediting tenants,
   * registering models. Unset, they are taken only on a server that listens on loopback alone.
   * Several, comma-separated, are each taken: a token is rotated by adding the new one beside the
   * old, moving the clients over, then removing the old one, and no admin call is refused meanwhile.
   */
  OPAL_ADMIN_TOKEN: z
    .string()
    .transform((v) => v.split(',').map((t) => t.trim()))
    .refine((ts) => ts.every((t) => t.length >= 24), 'each token at least 24 characters (several are separated by commas)')
    .refine((ts) => ts.length <= 8, 'at most 8 tokens')
    .optional(),
  OPAL_ADVERTISE_HOST: z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name or IP address').optional(),
});

/** Every environment variable the services' shared configuration reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type OpalConfig = {
  readonly dataDir: string;
  readonly grpcHost: string;
  readonly grpcPort: number;
  /** Port of the process's Prometheus /metrics (on grpcHost); -1: none. */
  readonly metricsPort: number;
  /** OTLP/HTTP collector for traces (undefined: no tracing), and the service name spans carry. */
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string | undefined;
  readonly logLevel: z.infer<typeof schema>['OPAL_LOG_LEVEL'];
  readonly eventLog: string;
  readonly store: string;
  /** Kafka only: prefix of topic and consumer-group names, and partitions per domain topic. */
  readonly kafkaTopicPrefix: string;
  readonly kafkaPartitions: number;
  /** Kafka only: copies of each partition for topics this creates (3 or more also sets min.insync.replicas=2). */
  readonly kafkaReplicationFactor: number;
  /** Kafka only: a topic per service's streams, or one topic for all; and partitions per domain where not kafkaPartitions. */
  readonly kafkaTopicLayout: 'domains' | 'single';
  readonly kafkaDomainPartitions: Readonly<Record<string, number>>;
  /** Kafka only: bytes of records the log's index keeps in memory (the rest in a file under dataDir/kafka-index). */
  readonly kafkaIndexMemoryBytes: number;
  /** Kafka only: whether the log's index is kept under dataDir/kafka-index across restarts. */
  readonly kafkaIndexPersist: boolean;
  /** TLS on the gRPC port (undefined: plaintext); see GrpcTls. */
  readonly grpcTls: GrpcTls | undefined;
  /** How often TLS files are read again (0: never); see TlsFiles. */
  readonly tlsReloadMs: number;
  /**
   * Kafka only: TLS (undefined: plaintext), with the CA to trust and this client's certificate and
   * key, as PEM text read at start, and the files they come from (read again: kafkaTlsFiles).
   */
  readonly kafkaTls: KafkaTls | undefined;
  /**
   * MongoDB only: TLS files (undefined: none given; the URL may still ask for TLS on the system's
   * CAs), from OPAL_STORE_TLS_* or the URL's tlsCAFile and tlsCertificateKeyFile, as PEM text read
   * at start, and the files they come from (read again: clientTlsFiles).
   */
  readonly storeTls: ClientTls | undefined;
  /** Kafka only: SASL authentication. */
  readonly kafkaSasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | undefined;
  readonly fsync: boolean;
  /** After a stop signal: serving while health says NOT_SERVING, then the most the running calls get to finish. */
  readonly shutdownDrainMs: number;
  readonly shutdownGraceMs: number;
  readonly chainId: number;
  readonly snapshotEvery: number;
  /** Worker threads that check signatures and content for ingest (0: in the event loop). */
  readonly ingestWorkers: number;
  /** Bytes of memory the Datanets' write models may hold together in an ingest process. */
  readonly datanetCacheBytes: number;
  /** The host other processes reach this one's gRPC port at; commands are routed by stream when set (Kafka only). */
  readonly advertiseHost: string | undefined;
  /** The tokens admin calls may carry, any of them (see AdminAuth); undefined: admin calls only on a loopback-only server. */
  readonly adminTokens: readonly string[] | undefined;
};

/**
 * TLS on the gRPC port, as PEM text read at start: the server's certificate chain and key;
 * `clientCa`, when clients must show a certificate it signed; `ca` and `serverName`, how a replica
 * checks another's certificate when it sends it commands (it shows its own certificate as the
 * client's). `paths`: the files they were read from, read again while the process runs (TlsFiles).
 */
export type GrpcTls = TlsPem & { readonly serverName?: string; readonly paths: TlsPaths };

/** TLS to Kafka's brokers: PEM text, each part absent where the system's CAs, or no client certificate, are used; `paths`, their files. */
export type KafkaTls = ClientTls;

/** A URL as it may be logged: the password of `scheme://user:password@host`, and a MongoDB URL's key file password, masked. */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@').replace(/([?&]tlsCertificateKeyFilePassword=)[^&]*/gi, '$1***');
}

/** Variables whose values are secrets. */
const SECRET = /TOKEN|PASSWORD/;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment once at boot; every bad variable is named in one error. */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<OpalConfig> = {}): OpalConfig {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    // A secret's value is never repeated in the error (it ends up in logs): only its length.
    const got = (k: string) => (SECRET.test(k) && picked[k] !== undefined ? `${picked[k]!.length} characters` : JSON.stringify(picked[k]));
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message} (got ${got(String(i.path[0]))})`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const v = parsed.data;
  const problems: string[] = [];
  if (v.OPAL_KAFKA_SASL_MECHANISM) {
    for (const k of ['OPAL_KAFKA_SASL_USERNAME', 'OPAL_KAFKA_SASL_PASSWORD'] as const) if (!v[k]) problems.push(`  ${k}: required with OPAL_KAFKA_SASL_MECHANISM`);
  } else if (v.OPAL_KAFKA_SASL_USERNAME || v.OPAL_KAFKA_SASL_PASSWORD) {
    problems.push('  OPAL_KAFKA_SASL_MECHANISM: required with a SASL username or password (plain, scram-sha-256 or scram-sha-512)');
  }
  if (!v.OPAL_KAFKA_TLS_CERT_FILE !== !v.OPAL_KAFKA_TLS_KEY_FILE) {
    problems.push(`  ${v.OPAL_KAFKA_TLS_CERT_FILE ? 'OPAL_KAFKA_TLS_KEY_FILE' : 'OPAL_KAFKA_TLS_CERT_FILE'}: a client certificate and its key go together`);
  }
  if (!v.OPAL_GRPC_TLS_CERT_FILE !== !v.OPAL_GRPC_TLS_KEY_FILE) {
    problems.push(`  ${v.OPAL_GRPC_TLS_CERT_FILE ? 'OPAL_GRPC_TLS_KEY_FILE' : 'OPAL_GRPC_TLS_CERT_FILE'}: the gRPC port's certificate and its key go together`);
  }
  for (const k of ['OPAL_GRPC_TLS_CLIENT_CA_FILE', 'OPAL_GRPC_TLS_CA_FILE', 'OPAL_GRPC_TLS_SERVER_NAME'] as const) {
    if (v[k] && !v.OPAL_GRPC_TLS_CERT_FILE) problems.push(`  ${k}: only with TLS on the gRPC port (OPAL_GRPC_TLS_CERT_FILE and OPAL_GRPC_TLS_KEY_FILE)`);
  }
  for (const k of ['OPAL_KAFKA_TLS_CA_FILE', 'OPAL_GRPC_TLS_CLIENT_CA_FILE', 'OPAL_GRPC_TLS_CA_FILE'] as const) {
    const text = v[k];
    if (text === undefined) continue;
    try {
      checkedCa(text, 'its certificate');
    } catch (error) {
      problems.push(`  ${k}: ${(error as Error).message} (got ${JSON.stringify(picked[k])})`);
    }
  }
  if (v.OPAL_KAFKA_TLS_CERT_FILE && v.OPAL_KAFKA_TLS_KEY_FILE) {
    try {
      checkedPair(v.OPAL_KAFKA_TLS_CERT_FILE, v.OPAL_KAFKA_TLS_KEY_FILE);
    } catch (error) {
      problems.push(`  OPAL_KAFKA_TLS_KEY_FILE: with OPAL_KAFKA_TLS_CERT_FILE: ${(error as Error).message} (got ${JSON.stringify(picked.OPAL_KAFKA_TLS_KEY_FILE)})`);
    }
  }
  if (v.OPAL_GRPC_TLS_CERT_FILE && v.OPAL_GRPC_TLS_KEY_FILE) {
    try {
      checkedPair(v.OPAL_GRPC_TLS_CERT_FILE, v.OPAL_GRPC_TLS_KEY_FILE);
    } catch (error) {
      problems.push(`  OPAL_GRPC_TLS_KEY_FILE: with OPAL_GRPC_TLS_CERT_FILE: ${(error as Error).message} (got ${JSON.stringify(picked.OPAL_GRPC_TLS_KEY_FILE)})`);
    }
  }
  const storeTls = storeTlsOf(
    v.OPAL_STORE,
    { ca: v.OPAL_STORE_TLS_CA_FILE, cert: v.OPAL_STORE_TLS_CERT_FILE, key: v.OPAL_STORE_TLS_KEY_FILE },
    { ca: picked.OPAL_STORE_TLS_CA_FILE, cert: picked.OPAL_STORE_TLS_CERT_FILE, key: picked.OPAL_STORE_TLS_KEY_FILE },
    problems,
  );
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  const tls = v.OPAL_KAFKA_TLS || v.OPAL_KAFKA_TLS_CA_FILE !== undefined || v.OPAL_KAFKA_TLS_CERT_FILE !== undefined;
  return {
    dataDir: resolve(v.OPAL_DATA_DIR),
    grpcHost: v.OPAL_GRPC_HOST,
    grpcPort: v.OPAL_GRPC_PORT,
    metricsPort: v.OPAL_METRICS_PORT,
    otlpEndpoint: v.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: v.OTEL_SERVICE_NAME,
    logLevel: v.OPAL_LOG_LEVEL,
    eventLog: v.OPAL_EVENT_LOG,
    store: v.OPAL_STORE,
    kafkaTopicPrefix: v.OPAL_KAFKA_TOPIC_PREFIX,
    kafkaPartitions: v.OPAL_KAFKA_PARTITIONS,
    kafkaReplicationFactor: v.OPAL_KAFKA_REPLICATION_FACTOR,
    kafkaTopicLayout: v.OPAL_KAFKA_TOPIC_LAYOUT,
    kafkaDomainPartitions: v.OPAL_KAFKA_DOMAIN_PARTITIONS ?? {},
    kafkaIndexMemoryBytes: v.OPAL_KAFKA_INDEX_MEMORY_MB * (1 << 20),
    kafkaIndexPersist: v.OPAL_KAFKA_INDEX_PERSIST,
    grpcTls: v.OPAL_GRPC_TLS_CERT_FILE
      ? {
          cert: v.OPAL_GRPC_TLS_CERT_FILE,
          key: v.OPAL_GRPC_TLS_KEY_FILE!,
          ...(v.OPAL_GRPC_TLS_CLIENT_CA_FILE !== undefined && { clientCa: v.OPAL_GRPC_TLS_CLIENT_CA_FILE }),
          ...(v.OPAL_GRPC_TLS_CA_FILE !== undefined && { ca: v.OPAL_GRPC_TLS_CA_FILE }),
          serverName: v.OPAL_GRPC_TLS_SERVER_NAME,
          paths: {
            cert: picked.OPAL_GRPC_TLS_CERT_FILE!,
            key: picked.OPAL_GRPC_TLS_KEY_FILE!,
            ...(picked.OPAL_GRPC_TLS_CLIENT_CA_FILE !== undefined && { clientCa: picked.OPAL_GRPC_TLS_CLIENT_CA_FILE }),
            ...(picked.OPAL_GRPC_TLS_CA_FILE !== undefined && { ca: picked.OPAL_GRPC_TLS_CA_FILE }),
          },
        }
      : undefined,
    tlsReloadMs: v.OPAL_TLS_RELOAD_MS,
    kafkaTls: tls
      ? {
          ca: v.OPAL_KAFKA_TLS_CA_FILE,
          cert: v.OPAL_KAFKA_TLS_CERT_FILE,
          key: v.OPAL_KAFKA_TLS_KEY_FILE,
          paths: { ca: picked.OPAL_KAFKA_TLS_CA_FILE, cert: picked.OPAL_KAFKA_TLS_CERT_FILE, key: picked.OPAL_KAFKA_TLS_KEY_FILE },
        }
      : undefined,
    storeTls,
    kafkaSasl: v.OPAL_KAFKA_SASL_MECHANISM
      ? { mechanism: v.OPAL_KAFKA_SASL_MECHANISM, username: v.OPAL_KAFKA_SASL_USERNAME!, password: v.OPAL_KAFKA_SASL_PASSWORD! }
      : undefined,
    fsync: v.OPAL_FSYNC,
    shutdownDrainMs: v.OPAL_SHUTDOWN_DRAIN_MS,
    shutdownGraceMs: v.OPAL_SHUTDOWN_GRACE_MS,
    chainId: v.OPAL_CHAIN_ID,
    snapshotEvery: v.OPAL_SNAPSHOT_EVERY,
    ingestWorkers: v.OPAL_INGEST_WORKERS,
    datanetCacheBytes: v.OPAL_DATANET_CACHE_MB * (1 << 20),
    advertiseHost: v.OPAL_ADVERTISE_HOST,
    adminTokens: v.OPAL_ADMIN_TOKEN,
    ...overrides,
  };
}

export const OPAL_CONFIG = Symbol('OpalConfig');
