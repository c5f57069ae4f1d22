import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { protoRoot, serviceProtos } from '@opal/contracts';

type Unary = (req: object, metadata: Metadata, cb: (err: ServiceError | null, res: any) => void) => void;

/** A real gRPC client for one Opal service, with promise-returning unary calls. */
export function grpcClient(url: string, key: keyof typeof serviceProtos): Client & Record<string, any> {
  const p = serviceProtos[key];
  const def = loadSync(join(protoRoot, p.file), { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoRoot] });
  const pkg = loadPackageDefinition(def) as any;
  let ctor = pkg;
  for (const part of p.pkg.split('.')) ctor = ctor[part];
  return new ctor[p.service](url, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
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
