import { z } from 'zod';
import { checkedPair, pemFile, type TlsPaths } from '@opal/service-runtime';

/** The inference service's own settings (environment names map one to one to Helm values). */
const schema = z.object({
  OPAL_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  /** The OpenAI-compatible HTTP API and /metrics; 0 picks a free port, -1 turns HTTP off. */
  OPAL_HTTP_PORT: z.coerce.number().int().min(-1).max(65535).default(8080),
  /** HTTPS on that port: its certificate (chain) and key, PEM (the chart gives the gRPC port's). Unset: plain HTTP. */
  OPAL_HTTP_TLS_CERT_FILE: pemFile.optional(),
  OPAL_HTTP_TLS_KEY_FILE: pemFile.optional(),
  OPAL_INFERENCE_MAX_RESIDENT: z.coerce.number().int().min(1).default(8),
  OPAL_INFERENCE_MAX_HOST_ADAPTERS: z.coerce.number().int().min(0).default(32),
  OPAL_INFERENCE_SLOTS: z.coerce.number().int().min(1).max(64).default(4),
  OPAL_INFERENCE_THREADS: z.coerce.number().int().min(1).default(1),
  OPAL_INFERENCE_GPU: z.enum(['auto', 'false', 'cuda', 'vulkan', 'metal']).default('false'),
  OPAL_INFERENCE_DEFAULT_MAX_TOKENS: z.coerce.number().int().min(1).default(128),
  /**
   * How long a request's balance hold lasts: the request is stopped before then, and a hold its
   * replica never settled (a crash) keeps the tenant's funds this long.
   */
  OPAL_INFERENCE_HOLD_SECONDS: z.coerce.number().int().min(10).max(86_400).default(900),
  /** Memory the tenants' write models may hold in an inference process; the least recently used past it load again when next used. */
  OPAL_INFERENCE_TENANT_CACHE_MB: z.coerce.number().int().min(1).max(1 << 24).default(512),
  /** The same for base-model and adapter registrations. */
  OPAL_INFERENCE_REGISTRY_CACHE_MB: z.coerce.number().int().min(1).max(1 << 24).default(64),
});

/** Every environment variable the inference service reads besides the shared ones. */
export const INFERENCE_CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

export type InferenceConfig = {
  readonly httpHost: string;
  readonly httpPort: number;
  /** HTTPS on httpPort (undefined: plain HTTP): certificate chain and key, PEM text read at start, and the files they are read from again (TlsFiles). */
  readonly httpTls: { readonly cert: string; readonly key: string; readonly paths: TlsPaths } | undefined;
  readonly maxResidentPerBase: number;
  readonly maxHostAdapters: number;
  readonly slotsPerAdapter: number;
  readonly threads: number;
  readonly gpu: 'auto' | false | 'cuda' | 'vulkan' | 'metal';
  readonly defaultMaxTokens: number;
  readonly holdMs: number;
  /** Bytes of memory the tenants' and the registrations' write models may hold in a process. */
  readonly tenantCacheBytes: number;
  readonly registryCacheBytes: number;
};

export function loadInferenceConfig(env: Record<string, string | undefined> = process.env): InferenceConfig {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message} (got ${JSON.stringify(picked[String(i.path[0])])})`);
    throw new Error(`invalid inference configuration:\n${lines.join('\n')}`);
  }
  const v = parsed.data;
  if (!v.OPAL_HTTP_TLS_CERT_FILE !== !v.OPAL_HTTP_TLS_KEY_FILE) {
    throw new Error(`invalid inference configuration:\n  ${v.OPAL_HTTP_TLS_CERT_FILE ? 'OPAL_HTTP_TLS_KEY_FILE' : 'OPAL_HTTP_TLS_CERT_FILE'}: the HTTP port's certificate and its key go together`);
  }
  if (v.OPAL_HTTP_TLS_CERT_FILE && v.OPAL_HTTP_TLS_KEY_FILE) {
    try {
      checkedPair(v.OPAL_HTTP_TLS_CERT_FILE, v.OPAL_HTTP_TLS_KEY_FILE);
    } catch (error) {
      throw new Error(`invalid inference configuration:\n  OPAL_HTTP_TLS_KEY_FILE: with OPAL_HTTP_TLS_CERT_FILE: ${(error as Error).message} (got ${JSON.stringify(picked.OPAL_HTTP_TLS_KEY_FILE)})`);
    }
  }
  return {
    httpHost: v.OPAL_HTTP_HOST,
    httpPort: v.OPAL_HTTP_PORT,
    httpTls: v.OPAL_HTTP_TLS_CERT_FILE
      ? { cert: v.OPAL_HTTP_TLS_CERT_FILE, key: v.OPAL_HTTP_TLS_KEY_FILE!, paths: { cert: picked.OPAL_HTTP_TLS_CERT_FILE!, key: picked.OPAL_HTTP_TLS_KEY_FILE! } }
      : undefined,
    maxResidentPerBase: v.OPAL_INFERENCE_MAX_RESIDENT,
    maxHostAdapters: v.OPAL_INFERENCE_MAX_HOST_ADAPTERS,
    slotsPerAdapter: v.OPAL_INFERENCE_SLOTS,
    threads: v.OPAL_INFERENCE_THREADS,
    gpu: v.OPAL_INFERENCE_GPU === 'false' ? false : v.OPAL_INFERENCE_GPU,
    defaultMaxTokens: v.OPAL_INFERENCE_DEFAULT_MAX_TOKENS,
    holdMs: v.OPAL_INFERENCE_HOLD_SECONDS * 1000,
    tenantCacheBytes: v.OPAL_INFERENCE_TENANT_CACHE_MB * (1 << 20),
    registryCacheBytes: v.OPAL_INFERENCE_REGISTRY_CACHE_MB * (1 << 20),
  };
}

export const INFERENCE_CONFIG = Symbol('InferenceConfig');
