import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, type Server, type ServerInterceptor } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';

/** How the server's stop went: whether every call finished by itself, and how many were cut. */
export type ServingStop = { readonly finished: boolean; readonly cut: number; readonly ms: number };

/**
 * The health name a liveness (and startup) probe asks for: SERVING while the process runs, whatever
 * its readiness. Read models catching up for an hour must not get a process restarted.
 */
export const LIVENESS_HEALTH_NAME = 'opal.liveness';

/**
 * The gRPC server's standing, as health checks see it, and its stop. Every listed service (and the
 * server as a whole, service '') is NOT_SERVING while what `holdUntil` was given is pending (the
 * read models catching up with the log at start: a new version built from offset zero, a new
 * database), SERVING then until `drain`, and NOT_SERVING after: readiness probes fail and load
 * balancers that check health send no calls, while the calls that still come are served. `stop`
 * then takes no new call and lets those running finish, for a bounded time. LIVENESS_HEALTH_NAME
 * stays SERVING throughout.
 */
export class GrpcServing {
  private readonly health: HealthImplementation;
  private readonly names: readonly string[];
  private server: Server | undefined;
  /** Calls started and not yet answered or cancelled. */
  private running = 0;
  private drained = false;

  constructor(services: readonly string[]) {
    this.names = ['', ...services];
    const map: ServingStatusMap = {};
    for (const name of this.names) map[name] = 'SERVING';
    map[LIVENESS_HEALTH_NAME] = 'SERVING';
    this.health = new HealthImplementation(map);
  }

  /** Serves the health service on `server`, and stops `server` when asked. */
  attach(server: Server): void {
    this.server = server;
    this.health.addToServer(server);
  }

  /** Whether health says NOT_SERVING, and why (undefined while SERVING). */
  get notServing(): string | undefined {
    if (this.drained) return 'stopping';
    return this.held > 0 ? 'read models catching up with the log' : undefined;
  }

  private held = 0;

  /** NOT_SERVING until `pending` settles (resolved or not: a failure is the process's to report). */
  holdUntil(pending: Promise<unknown>): void {
    if (this.held++ === 0 && !this.drained) for (const name of this.names) this.health.setStatus(name, 'NOT_SERVING');
    const release = () => {
      if (--this.held === 0 && !this.drained) for (const name of this.names) this.health.setStatus(name, 'SERVING');
    };
    pending.then(release, release);
  }

  /** Every service NOT_SERVING from now on (watchers are told at once). */
  drain(): void {
    this.drained = true;
    for (const name of this.names) this.health.setStatus(name, 'NOT_SERVING');
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Counts the calls running, so a stop can tell how many it cut. */
  interceptor(): ServerInterceptor {
    return (_method, call) => {
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        this.running--;
      };
      this.running++;
      // A cancel also comes after an answered call's close; counted once either way.
      const listener = new ServerListenerBuilder().withOnCancel(end).build();
      const responder = new ResponderBuilder()
        .withStart((next) => next(listener))
        .withSendStatus((status, next) => {
          end();
          next(status);
        })
        .build();
      return new ServerInterceptingCall(call, responder);
    };
  }

  /**
   * Takes no new call (connections are told to go away) and waits for the running ones, at most
   * `graceMs`; then cuts those left (their clients see CANCELLED). Health says NOT_SERVING first.
   */
  async stop(graceMs: number): Promise<ServingStop> {
    if (!this.drained) this.drain();
    const server = this.server;
    const started = performance.now();
    if (!server) return { finished: true, cut: 0, ms: 0 };
    let timer: NodeJS.Timeout | undefined;
    let cut = 0;
    const finished = await new Promise<boolean>((resolve) => {
      server.tryShutdown(() => resolve(true));
      timer = setTimeout(() => {
        cut = this.running;
        server.forceShutdown();
        resolve(false);
      }, graceMs);
    });
    clearTimeout(timer);
    return { finished, cut, ms: Math.round(performance.now() - started) };
  }
}
