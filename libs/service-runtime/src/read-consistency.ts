import { status as grpcStatus, type ServerInterceptor } from '@grpc/grpc-js';
import { metadataGate } from './metadata-gate.js';
import { CATCH_UP_WAIT_MS } from './projection-host.js';

/** Request metadata a client sets to read what was written before its call, on any process. */
export const CONSISTENCY_METADATA = 'opal-consistency';
/** Its one value: answer only once this process's read models have caught up with the log as it is at the call. */
export const LATEST = 'latest';

/** What the gate waits on: a service's read models caught up with the log (ProjectionHost.caughtUpWithin). */
export type ReadModelsCatchUp = { caughtUpWithin(service: string, withinMs?: number): Promise<boolean> };

/**
 * Read-your-writes on request. Queries answer from read models, which apply the log a moment after
 * it was written, and on another process than the one that took the write; a call with
 * `opal-consistency: latest` is handed to its handler only once this process's read models of the
 * method's service have applied the log up to where it ended when the call came (the write a client
 * was answered for before is in it), so a page, a count or a document read after a write shows it.
 * A call whose read models do not catch up within `withinMs` is answered UNAVAILABLE rather than
 * stale. Calls without the metadata pass at once. `bind` gives it the process's read models once
 * they exist (the server's interceptors are made first).
 */
export class ReadConsistencyGate {
  private readModels: ReadModelsCatchUp | undefined;

  constructor(private readonly withinMs = CATCH_UP_WAIT_MS) {}

  bind(readModels: ReadModelsCatchUp): void {
    this.readModels = readModels;
  }

  interceptor(): ServerInterceptor {
    return metadataGate(
      () => true,
      (metadata, path) => {
        const asked = metadata.get(CONSISTENCY_METADATA).map(String);
        if (asked.length === 0) return undefined;
        if (asked.length > 1 || asked[0] !== LATEST) {
          return { code: grpcStatus.INVALID_ARGUMENT, details: `${CONSISTENCY_METADATA}: must be '${LATEST}' (got ${JSON.stringify(asked.join(', '))})` };
        }
        // `/opal.ingest.v1.IngestService/GetDatanet`: the read models of `ingest`; the admin service's of every service.
        const pkg = /^\/opal\.([a-z]+)\.v1\./.exec(path)?.[1];
        const service = pkg === 'admin' ? undefined : pkg;
        return this.caughtUp(service).then((caughtUp) =>
          caughtUp ? undefined : { code: grpcStatus.UNAVAILABLE, details: `${CONSISTENCY_METADATA}: ${service ?? 'the'} read models were not seen caught up with the log (its servers do not answer, or not within ${this.withinMs} ms); try again` },
        );
      },
    );
  }

  /** `service`'s read models (every service's: '') caught up; true where there are none yet. */
  private async caughtUp(service: string | undefined): Promise<boolean> {
    return this.readModels ? this.readModels.caughtUpWithin(service ?? '', this.withinMs) : true;
  }
}
