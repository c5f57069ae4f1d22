import { Transport, type GrpcOptions } from '@nestjs/microservices';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { protoRoot, serviceProtos } from '@opal/contracts';
import { join } from 'node:path';

export type GrpcServiceKey = keyof typeof serviceProtos;

/**
 * gRPC transport for a set of services on one port, with the standard health service (every
 * listed service SERVING) and server reflection, so grpcurl and Kubernetes probes work.
 */
export function grpcServerOptions(url: string, services: readonly GrpcServiceKey[]): GrpcOptions {
  const protos = services.map((s) => serviceProtos[s]);
  const statusMap: Record<string, 'SERVING'> = { '': 'SERVING' };
  for (const p of protos) statusMap[`${p.pkg}.${p.service}`] = 'SERVING';
  return {
    transport: Transport.GRPC,
    options: {
      url,
      package: protos.map((p) => p.pkg),
      protoPath: protos.map((p) => join(protoRoot, p.file)),
      loader: { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoRoot] },
      maxReceiveMessageLength: 64 << 20,
      onLoadPackageDefinition: (definition, server) => {
        new ReflectionService(definition).addToServer(server as never);
        new HealthImplementation(statusMap).addToServer(server as never);
      },
    },
  };
}

export { healthProtoPath };
