import { Controller, Inject, Module } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type * as api from '@opal/contracts/opal/admin/v1/admin.api';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { ProjectionHost } from './projection-host.js';

@Controller()
export class AdminController {
  constructor(
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
    @Inject(EVENT_LOG) private readonly log: EventLog,
  ) {}

  @GrpcMethod('AdminService', 'GetStateDigest')
  async getStateDigest(r: api.GetStateDigestRequest): Promise<api.GetStateDigestResponse> {
    const { digest, projections } = await this.projections.digests(r.service || undefined);
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
