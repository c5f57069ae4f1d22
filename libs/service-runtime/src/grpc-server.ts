import { Transport, type GrpcOptions } from '@nestjs/microservices';
import { ReflectionService } from '@grpc/reflection';
import { fileURLToPath } from 'node:url';
import { protoRoot, serviceProtos } from '@opal/contracts';
import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { GrpcServing } from './grpc-serving.js';
import { credentials, experimental, loadPackageDefinition, type ChannelCredentials, type Client, type ServerInterceptor } from '@grpc/grpc-js';
import { rootCertificates } from 'node:tls';
import { certificateProviderOf, ReloadingServerCredentials, type TlsFiles } from './tls-files.js';

const healthProtoPath = fileURLToPath(new URL('../proto/grpc/health/v1/health.proto', import.meta.url));

export type GrpcServiceKey = keyof typeof serviceProtos;

/** How the servers read messages into objects (camelCase fields, 64-bit integers as strings); peers' clients read them the same way. */
const MESSAGE_LOADING = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoRoot] };

/**
 * How a peer is reached: plaintext, or TLS trusting `ca` (the system's CAs when absent), checking
 * its certificate for `serverName`, showing `cert` where asked; with `files`, their CA, certificate
 * and key as they are when each connection begins (a certificate renewed on disk is shown from then on).
 */
export type PeerTls = { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly serverName?: string } | { readonly files: TlsFiles; readonly serverName?: string };

/** A replica's way to its peers: its own gRPC port's files, its certificate shown as the client's. */
export function peerTlsOf(files: TlsFiles | undefined, serverName: string | undefined): PeerTls | undefined {
  return files && { files, serverName };
}

/**
 * A client of a service on another process of the platform, reading and writing messages as that
 * process's server does: a request object a handler received can be sent on as it is. Over TLS
 * when `tls` is given (the process's own gRPC port is).
 */
export function peerClient(address: string, service: GrpcServiceKey, tls?: PeerTls): Client & Record<string, any> {
  const p = serviceProtos[service];
  let ctor = loadPackageDefinition(loadSync(join(protoRoot, p.file), MESSAGE_LOADING)) as any;
  for (const part of `${p.pkg}.${p.service}`.split('.')) ctor = ctor[part];
  const { credentials: creds, options } = peerChannel(tls);
  return new ctor(address, creds, { 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20, ...options });
}

/** A channel's credentials and options for `tls` (plaintext without it). */
export function peerChannel(tls?: PeerTls): { credentials: ChannelCredentials; options: Record<string, string> } {
  if (!tls) return { credentials: credentials.createInsecure(), options: {} };
  const options: Record<string, string> = tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {};
  if ('files' in tls) return { credentials: reloadingChannelCredentials(tls.files), options };
  const pem = (s: string | undefined) => (s === undefined ? null : Buffer.from(s));
  return { credentials: credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert)), options };
}

/** One set of channel credentials per TlsFiles, shared by every peer's channel (each listens to the files once). */
const channelCredentialsOfFiles = new WeakMap<TlsFiles, ChannelCredentials>();

function reloadingChannelCredentials(files: TlsFiles): ChannelCredentials {
  let creds = channelCredentialsOfFiles.get(files);
  if (!creds) {
    const provider = certificateProviderOf(files, () => rootCertificates.join('\n'));
    creds = experimental.createCertificateProviderChannelCredentials(provider, provider);
    channelCredentialsOfFiles.set(files, creds);
  }
  return creds;
}

/**
 * gRPC transport for a set of services on one port, with the standard health service and server
 * reflection, so grpcurl and Kubernetes probes work; `interceptors` run around every call. What
 * health says, and the server's stop, are `serving`'s (see GrpcServing).
 */
export function grpcServerOptions(url: string, services: readonly GrpcServiceKey[], interceptors: readonly ServerInterceptor[] = [], tls?: TlsFiles): { options: GrpcOptions; serving: GrpcServing } {
  const protos = services.map((s) => serviceProtos[s]);
  const serving = new GrpcServing(protos.map((p) => `${p.pkg}.${p.service}`));
  const options: GrpcOptions = {
    transport: Transport.GRPC,
    options: {
      url,
      package: protos.map((p) => p.pkg),
      protoPath: protos.map((p) => join(protoRoot, p.file)),
      loader: MESSAGE_LOADING,
      maxReceiveMessageLength: 64 << 20,
      // TLS with the server's certificate (as its files hold it when each connection begins);
      // clients show one the client CA signed where it is set.
      ...(tls && { credentials: new ReloadingServerCredentials(tls) }),
      // Passed to the grpc-js Server, which runs them around every call (metrics).
      channelOptions: { interceptors: [serving.interceptor(), ...interceptors] },
      onLoadPackageDefinition: (_definition, server) => {
        // Reflection describes the .proto files as written (snake_case fields), whatever casing
        // the handlers receive, so grpcurl and generated clients see the real contract.
        const described = loadSync([...protos.map((p) => join(protoRoot, p.file)), healthProtoPath], { keepCase: true, includeDirs: [protoRoot] });
        new ReflectionService(described).addToServer(server as never);
        serving.attach(server as never);
      },
    },
  };
  return { options, serving };
}

