import { loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { peerChannel, peerClient, type GrpcServiceKey, type PeerTls } from '@opal/service-runtime';
import { repoRoot } from './opal-process.js';

type Unary = (req: object, metadata: Metadata, cb: (err: ServiceError | null, res: any) => void) => void;

/** A real gRPC client for one Opal service, reading messages as the servers do (the processes' own peer client); over TLS with `tls`. */
export function grpcClient(url: string, key: GrpcServiceKey, tls?: PeerTls): Client & Record<string, any> {
  return peerClient(url, key, tls);
}

/** One unary call; `metadata` (such as a `traceparent`) goes with it. */
export function call<T = any>(client: any, method: string, request: object, metadata: Metadata = new Metadata()): Promise<T> {
  return new Promise((resolve, reject) => {
    (client[method] as Unary).call(client, request, metadata, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Sends `requests` on a client stream and resolves with the single response. */
export function clientStream<T = any>(client: any, method: string, requests: Iterable<object>): Promise<T> {
  return new Promise((resolve, reject) => {
    const stream = client[method]((err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
    const it = requests[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        const n = it.next();
        if (n.done) return stream.end();
        if (!stream.write(n.value)) return stream.once('drain', pump);
      }
    };
    pump();
  });
}

const healthProto = join(repoRoot, 'libs', 'service-runtime', 'proto', 'grpc', 'health', 'v1', 'health.proto');

/** What the standard gRPC health service at `url` says of `service` ('' : the server), as a probe asks it. */
export async function healthStatus(url: string, service = '', tls?: PeerTls): Promise<string> {
  const Health = (loadPackageDefinition(loadSync(healthProto, { keepCase: true, enums: String })) as any).grpc.health.v1.Health;
  const channel = peerChannel(tls);
  const client = new Health(url, channel.credentials, channel.options);
  try {
    return await new Promise((resolve, reject) => client.Check({ service }, { deadline: Date.now() + 10_000 }, (e: Error | null, r: { status: string }) => (e ? reject(e) : resolve(r.status))));
  } finally {
    client.close();
  }
}

/**
 * The health status once it is SERVING: a process is NOT_SERVING from its start until its read
 * models have applied the log, a moment for a short one. Any other answer after `timeoutMs` is
 * returned as it is, for the caller's assertion to show.
 */
export async function servingStatus(url: string, service = '', tls?: PeerTls, timeoutMs = 30_000): Promise<string> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const got = await healthStatus(url, service, tls);
    if (got === 'SERVING' || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}
