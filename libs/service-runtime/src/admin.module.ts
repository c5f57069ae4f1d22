import { Controller, Inject, Module, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type * as api from '@opal/contracts/opal/admin/v1/admin.api';
import { serviceNames, type ServiceName } from '@opal/contracts';
import { EVENT_LOG, TransientError, type EventLog } from '@opal/event-log';
import { ProjectionHost } from './projection-host.js';
import { rpcError } from './rpc-error.js';
import { createRpcExceptionFilter, noServiceErrors } from './rpc-exception.filter.js';

/** The longest GetStateDigest waits for the read models to apply the log before it answers UNAVAILABLE. */
export const DIGEST_WAIT_MS = 60_000;

@Controller()
@UseFilters(createRpcExceptionFilter('admin', noServiceErrors))
export class AdminController {
  constructor(
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
    @Inject(EVENT_LOG) private readonly log: EventLog,
  ) {}

  @GrpcMethod('AdminService', 'GetStateDigest')
  async getStateDigest(r: api.GetStateDigestRequest): Promise<api.GetStateDigestResponse> {
    const service = r.service || undefined;
    if (service !== undefined) {
      if (!serviceNames.includes(service as ServiceName)) throw rpcError('INVALID_ARGUMENT', `service: unknown service "${service}" (one of ${serviceNames.join(', ')}, or empty for all)`);
      if (!this.projections.hosts(service)) throw rpcError('FAILED_PRECONDITION', `service: this process runs no ${service} read models; ask a process that serves ${service}`);
    }
    // A digest of read models behind the log would compare with nothing: bounded, then try again.
    if (!(await this.projections.caughtUpWithin(service, DIGEST_WAIT_MS))) {
      throw new TransientError(`read models${service ? ` of ${service}` : ''} not seen caught up with the log within ${DIGEST_WAIT_MS / 1000} s (its servers do not answer, or a read model is stalled); try again`);
    }
    const { digest, projections } = await this.projections.digests(service);
    const stats = await this.log.stats();
    return {
      digest,
      projections: projections.map((p) => ({ projection: p.projection, digest: p.digest, documents: String(p.documents), appliedEvents: String(p.appliedEvents), version: p.version })),
      logEvents: String(stats.events),
    };
  }
}

/** Operations endpoints served next to the services in every process. */
@Module({ controllers: [AdminController] })
export class AdminModule {}
