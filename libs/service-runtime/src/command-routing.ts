export const COMMAND_ROUTING = Symbol('CommandRouting');

/** gRPC metadata on a command one process forwarded to another: the receiver decides it, whoever owns the stream. */
export const ROUTED_METADATA = 'opal-routed-from';

/**
 * Where the commands on a stream are decided when a service runs in several processes: by the one
 * that owns the stream's partition now (see StreamOwners), which then decides them in order on the
 * state it holds instead of racing the others for every append. Off (every command decided where it
 * arrives) until `start`, and where the process advertises no address (OPAL_ADVERTISE_HOST).
 */
export class CommandRouting {
  private owner: ((streamId: string) => string | undefined) | undefined;
  private self = '';
  private readonly peerListeners: ((peers: readonly string[]) => void)[] = [];

  /** Hears the addresses of the other processes that own streams, each time they change (to connect ahead of the first command). */
  onPeers(listener: (peers: readonly string[]) => void): void {
    this.peerListeners.push(listener);
  }

  /** The other processes owning streams now, by address. */
  peersChanged(peers: readonly string[]): void {
    for (const l of this.peerListeners) l(peers);
  }

  /** `self`: the address this process advertised; `owner`: the address of a stream's owner now, if known. */
  start(self: string, owner: (streamId: string) => string | undefined): void {
    this.self = self;
    this.owner = owner;
  }

  /** Back to deciding every command here (the process is leaving its group). */
  stop(): void {
    this.owner = undefined;
  }

  /** This process's advertised address, while routing. */
  get address(): string | undefined {
    return this.owner ? this.self : undefined;
  }

  /** The address to forward a command on this stream to; undefined to decide it here (owned here, owner unknown, or routing off). */
  forwardTo(streamId: string): string | undefined {
    const to = this.owner?.(streamId);
    return to && to !== this.self ? to : undefined;
  }
}
