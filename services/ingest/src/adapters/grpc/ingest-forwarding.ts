import { Inject, Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { connectivityState, Metadata, status, type Client, type ClientWritableStream, type Deadline, type ServiceError } from '@grpc/grpc-js';
import { COMMAND_ROUTING, CommandRouting, GRPC_TLS_FILES, METRICS, OPAL_CONFIG, peerClient, peerTlsOf, ProcessMetrics, ROUTED_METADATA, type OpalConfig, type PeerTls, type TlsFiles } from '@opal/service-runtime';
import { activeTraceHeaders } from '@opal/event-log';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import { datanetStream } from '../../domain/ingest.events.js';

/** No connection to the owner is up, so the command never left: decide it here. */
export const UNREACHED = Symbol('owner unreached');

/** How long the client of an owner that left the group stays open for the calls already on it. */
const RETIRED_CLIENT_MS = 60_000;

/** One client stream of submissions on to a Datanet's owner, for the items of one incoming stream. */
export type ForwardedSubmissions = {
  /** The owner's address. */
  readonly to: string;
  /** Where each item sent on sits in the incoming stream, in the order sent. */
  readonly positions: number[];
  /** Sends one more item; false: wait for `drained` before the next. */
  write(request: api.SubmitContributionRequest): boolean;
  /** Resolves once there is room for more, or the call is over. */
  readonly drained: () => Promise<void>;
  end(): void;
  cancel(): void;
  /** The owner's answer, one result per item sent, in order; rejects as the call failed. */
  readonly response: Promise<api.SubmitContributionsResponse>;
};

/**
 * Sends ingest commands on to the process that owns their Datanet's stream (see CommandRouting),
 * which decides them in order on the state it holds. A command forwarded here is decided here, so
 * a command travels at most once. An owner this process has no connection up to (one gone before
 * the group gave its partitions to another, or one named a moment ago) gets nothing: the command is
 * decided where it arrived, and the log's version check keeps that correct.
 */
@Injectable()
export class IngestForwarding implements OnApplicationShutdown {
  private readonly clients = new Map<string, Client & Record<string, any>>();

  private readonly tls: PeerTls | undefined;

  constructor(
    @Inject(COMMAND_ROUTING) private readonly routing: CommandRouting,
    @Inject(METRICS) private readonly metrics: ProcessMetrics,
    @Optional() @Inject(OPAL_CONFIG) config?: Pick<OpalConfig, 'grpcTls'>,
    @Optional() @Inject(GRPC_TLS_FILES) tlsFiles?: TlsFiles | null,
  ) {
    // The replicas' gRPC ports speak TLS when this one's does, with its files as they are now.
    this.tls = peerTlsOf(tlsFiles ?? undefined, config?.grpcTls?.serverName);
    // Connect to each new owner as soon as the group names it, so that its first commands find the
    // connection up instead of being decided here (and racing it). Owners gone (pods replaced, with
    // new addresses) are let go, once the calls still on their way there have had time to finish.
    routing.onPeers((peers) => {
      for (const p of peers) this.connected(p);
      for (const [address, client] of this.clients) {
        if (peers.includes(address)) continue;
        this.clients.delete(address);
        setTimeout(() => client.close(), RETIRED_CLIENT_MS).unref();
      }
    });
  }

  /** Whether commands go to their streams' owners now (false: off, or this process is leaving its group). */
  get routed(): boolean {
    return this.routing.address !== undefined;
  }

  /** The owner to send a command on this Datanet to; undefined to decide it here. */
  ownerOf(datanetId: string, metadata: Metadata | undefined): string | undefined {
    // Routing off (the embedded log, no advertised address): nothing to look up for each command.
    if (this.routing.address === undefined || !datanetId || (metadata && metadata.get(ROUTED_METADATA).length > 0)) return undefined;
    return this.routing.forwardTo(datanetStream(datanetId));
  }

  /** A unary command on to `to`, with the caller's deadline; UNREACHED when it could not be delivered. */
  async unary<T>(to: string, method: string, request: object, deadline: Deadline | undefined): Promise<T | typeof UNREACHED> {
    const client = this.connected(to);
    if (!client) return this.unreached(method);
    try {
      const response = await new Promise<T>((resolve, reject) => {
        client[method]!(request, this.metadata(), deadline === undefined || deadline === Infinity ? {} : { deadline }, (error: ServiceError | null, r: T) => (error ? reject(error) : resolve(r)));
      });
      this.metrics.commandsForwarded(method, 'forwarded');
      return response;
    } catch (error) {
      if (neverConnected(error)) return this.unreached(method);
      this.metrics.commandsForwarded(method, 'forwarded');
      throw asRpcException(error);
    }
  }

  /**
   * Opens a client stream of submissions to `to`, or undefined when no connection to it is up:
   * those items are decided here.
   */
  submissions(to: string): ForwardedSubmissions | undefined {
    const client = this.connected(to);
    if (!client) {
      this.unreached('SubmitContributions');
      return undefined;
    }
    let call!: ClientWritableStream<api.SubmitContributionRequest>;
    const response = new Promise<api.SubmitContributionsResponse>((resolve, reject) => {
      call = client.SubmitContributions!(this.metadata(), (error: ServiceError | null, r: api.SubmitContributionsResponse) => (error ? reject(asRpcException(error)) : resolve(r)));
    });
    const positions: number[] = [];
    // Sent on, whatever the owner answered (as a unary command is counted).
    const counted = response.finally(() => this.metrics.commandsForwarded('SubmitContributions', 'forwarded', positions.length));
    // Awaited once the incoming stream ends; a caller gone before that never asks.
    counted.catch(() => {});
    return {
      to,
      positions,
      write: (request) => call.write(request),
      // A call that failed drains no more: whoever waits for room goes on (its items fail with it).
      drained: () =>
        new Promise<void>((resolve) => {
          call.once('drain', resolve);
          counted.then(
            () => resolve(),
            () => resolve(),
          );
        }),
      end: () => call.end(),
      cancel: () => call.cancel(),
      response: counted,
    };
  }

  onApplicationShutdown(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private unreached(method: string): typeof UNREACHED {
    this.metrics.commandsForwarded(method, 'owner_not_connected');
    return UNREACHED;
  }

  /** Marks the call as forwarded, and carries the caller's trace on (the owner's spans join it). */
  private metadata(): Metadata {
    const m = new Metadata();
    m.set(ROUTED_METADATA, this.routing.address ?? 'unknown');
    for (const [k, v] of Object.entries(activeTraceHeaders() ?? {})) m.set(k, v);
    return m;
  }

  /**
   * The client of `address` if its connection is up; else undefined, and it connects for the calls
   * after this one. Only a connected owner is sent commands: one sent on a connection that then never
   * came up could not be told apart from one that was decided there.
   */
  private connected(address: string): (Client & Record<string, any>) | undefined {
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = peerClient(address, 'ingest', this.tls)));
    return c.getChannel().getConnectivityState(true) === connectivityState.READY ? c : undefined;
  }
}

/** A call that failed before any connection to the owner was made: nothing reached it. */
function neverConnected(error: unknown): boolean {
  const e = error as Partial<ServiceError>;
  return e.code === status.UNAVAILABLE && typeof e.details === 'string' && e.details.startsWith('No connection established');
}

/** The owner's status and message, for the caller as the owner gave them. */
function asRpcException(error: unknown): RpcException {
  const e = error as Partial<ServiceError>;
  if (typeof e.code === 'number') return new RpcException({ code: e.code, message: e.details ?? e.message ?? '' });
  return new RpcException({ code: status.INTERNAL, message: 'forwarding failed' });
}
