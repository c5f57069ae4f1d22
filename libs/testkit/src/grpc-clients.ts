import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { peerClient, type GrpcServiceKey } from '@opal/service-runtime';

type Unary = (req: object, metadata: Metadata, cb: (err: ServiceError | null, res: any) => void) => void;

/** A real gRPC client for one Opal service, reading messages as the servers do (the processes' own peer client). */
export function grpcClient(url: string, key: GrpcServiceKey): Client & Record<string, any> {
  return peerClient(url, key);
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
