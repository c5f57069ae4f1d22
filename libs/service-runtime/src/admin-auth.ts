import { createHash, timingSafeEqual } from 'node:crypto';
import { status as grpcStatus, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { metadataGate, type CallRefusal } from './metadata-gate.js';

export const ADMIN_AUTH = Symbol('AdminAuth');

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/i;

/** The credential a call carries: `authorization: Bearer <token>`, or `x-api-key`; undefined when none. */
export function bearerOf(metadata: Metadata): string | undefined {
  const v = metadata.get('authorization')[0] ?? metadata.get('x-api-key')[0];
  return v === undefined ? undefined : String(v).replace(/^Bearer\s+/i, '');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Who may make admin calls (creating and crediting tenants, registering models: work that moves
 * money or reads the server's files). With OPAL_ADMIN_TOKEN set, a call carrying one of its tokens
 * as `authorization: Bearer <token>` (several while one is rotated). Without it, any call to a server
 * that listens on loopback only (one machine, `npm start`), and none to one that listens beyond it:
 * a server reachable from others never takes admin calls unauthenticated.
 */
export class AdminAuth {
  private readonly tokens: readonly Buffer[] | undefined;

  constructor(
    tokens: readonly string[] | undefined,
    private readonly grpcHost: string,
  ) {
    this.tokens = tokens === undefined || tokens.length === 0 ? undefined : tokens.map(digest);
  }

  /** Whether admin calls need no token here (no token set, loopback only). */
  get open(): boolean {
    return this.tokens === undefined && LOOPBACK.test(this.grpcHost);
  }

  /** Undefined when a call with this metadata may do admin work; else why not. */
  refusal(metadata: Metadata): CallRefusal | undefined {
    if (this.open) return undefined;
    if (this.tokens === undefined) {
      return { code: grpcStatus.PERMISSION_DENIED, details: `authorization: admin calls are off: this server listens on ${this.grpcHost} and OPAL_ADMIN_TOKEN is not set` };
    }
    const given = bearerOf(metadata);
    if (given === undefined) return { code: grpcStatus.UNAUTHENTICATED, details: 'authorization: an admin call needs Bearer <OPAL_ADMIN_TOKEN>' };
    const d = digest(given);
    // Every token compared, whichever matches: the time taken says nothing of which, or how many.
    let matched = false;
    for (const t of this.tokens) matched = timingSafeEqual(d, t) || matched;
    if (!matched) return { code: grpcStatus.UNAUTHENTICATED, details: 'authorization: not an admin token' };
    return undefined;
  }

  /** Refuses the calls of `paths` (`/package.Service/Method`) that may not do admin work, before their handlers. */
  interceptor(paths: ReadonlySet<string>): ServerInterceptor {
    return metadataGate((path) => paths.has(path), (metadata) => this.refusal(metadata));
  }
}
