import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod, GrpcStreamCall } from '@nestjs/microservices';
import type { Metadata, ServerReadableStream, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import { createRpcExceptionFilter, LOGGER } from '@opal/service-runtime';
import { CreateDatanetHandler } from '../../application/create-datanet.handler.js';
import { SubmitContributionHandler } from '../../application/submit-contribution.handler.js';
import { ReviewContributionHandler } from '../../application/review-contribution.handler.js';
import { PublishVersionHandler } from '../../application/publish-version.handler.js';
import { IngestQueries } from '../../application/ingest.queries.js';
import { handleSubmissionStream } from './submission-batch.js';
import { ingestErrorMapper } from './ingest-error.mapper.js';
import * as map from './ingest.mapping.js';
import { IngestForwarding, UNREACHED } from './ingest-forwarding.js';

const Filter = createRpcExceptionFilter('ingest', ingestErrorMapper);

type Call = ServerUnaryCall<unknown, unknown>;

/**
 * gRPC edge of ingest: proto message in, command or query, proto message out. Scaled out, a command
 * on a Datanet another process owns goes on to that process (see IngestForwarding).
 */
@Controller()
@UseFilters(Filter)
export class IngestController {
  constructor(
    private readonly create: CreateDatanetHandler,
    private readonly submit: SubmitContributionHandler,
    private readonly review: ReviewContributionHandler,
    private readonly publish: PublishVersionHandler,
    private readonly queries: IngestQueries,
    private readonly forwarding: IngestForwarding,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** `here()` where this process decides commands on the Datanet; else the owner's answer to the request as it came. */
  private async routed<T>(datanetId: string, method: string, request: object, metadata: Metadata | undefined, call: Call | undefined, here: () => Promise<T>): Promise<T> {
    const to = this.forwarding.ownerOf(datanetId, metadata);
    if (to !== undefined) {
      const answer = await this.forwarding.unary<T>(to, method, request, call?.getDeadline());
      if (answer !== UNREACHED) return answer;
    }
    return here();
  }

  @GrpcMethod('IngestService', 'CreateDatanet')
  createDatanet(r: api.CreateDatanetRequest, metadata?: Metadata, call?: Call): Promise<api.CreateDatanetResponse> {
    return this.routed(r.datanetId, 'CreateDatanet', r, metadata, call, () => this.create.execute(map.createDatanetInput(r)));
  }

  @GrpcMethod('IngestService', 'SubmitContribution')
  submitContribution(r: api.SubmitContributionRequest, metadata?: Metadata, call?: Call): Promise<api.SubmitContributionResponse> {
    return this.routed(r.datanetId, 'SubmitContribution', r, metadata, call, async () => map.submissionResponse(await this.submit.execute(map.submitInput(r))));
  }

  @GrpcStreamCall('IngestService', 'SubmitContributions')
  submitContributions(
    call: ServerReadableStream<api.SubmitContributionRequest, api.SubmitContributionsResponse>,
    callback: sendUnaryData<api.SubmitContributionsResponse>,
  ): Promise<void> {
    const metadata = call.metadata;
    return handleSubmissionStream(call, callback, this.submit, this.logger, {
      ownerOf: (datanetId) => this.forwarding.ownerOf(datanetId, metadata),
      open: (to) => this.forwarding.submissions(to),
      routed: () => this.forwarding.routed,
    });
  }

  @GrpcMethod('IngestService', 'ReviewContribution')
  reviewContribution(r: api.ReviewContributionRequest, metadata?: Metadata, call?: Call): Promise<api.ReviewContributionResponse> {
    return this.routed(r.datanetId, 'ReviewContribution', r, metadata, call, () => this.review.execute({ ...r, signature: r.signature ?? new Uint8Array(0) }));
  }

  @GrpcMethod('IngestService', 'PublishVersion')
  publishVersion(r: api.PublishVersionRequest, metadata?: Metadata, call?: Call): Promise<api.PublishVersionResponse> {
    return this.routed(r.datanetId, 'PublishVersion', r, metadata, call, () => this.publish.execute(r.datanetId));
  }

  @GrpcMethod('IngestService', 'GetDatanet')
  async getDatanet(r: api.GetDatanetRequest): Promise<api.Datanet> {
    return map.datanet(await this.queries.datanet(r.datanetId));
  }

  @GrpcMethod('IngestService', 'ListDatanets')
  async listDatanets(r: api.ListDatanetsRequest): Promise<api.ListDatanetsResponse> {
    const page = await this.queries.datanets({ tag: r.tag, limit: r.limit, offset: r.offset });
    return { datanets: page.items.map(map.datanet), total: page.total };
  }

  @GrpcMethod('IngestService', 'GetContribution')
  async getContribution(r: api.GetContributionRequest): Promise<api.Contribution> {
    return map.contribution(await this.queries.contribution(r.contributionId));
  }

  @GrpcMethod('IngestService', 'GetContent')
  async getContent(r: api.GetContentRequest): Promise<api.GetContentResponse> {
    return { content: Buffer.from(await this.queries.contentOf(r.contentHash)) };
  }

  @GrpcMethod('IngestService', 'ListContributions')
  async listContributions(r: api.ListContributionsRequest): Promise<api.ListContributionsResponse> {
    const { items, total, nextPageToken } = await this.queries.contributions(r);
    return { contributions: items.map(map.contribution), total, nextPageToken };
  }

  @GrpcMethod('IngestService', 'GetContributorStats')
  async getContributorStats(r: api.GetContributorStatsRequest): Promise<api.ContributorStats> {
    return map.contributorStats(await this.queries.contributorStats(r.contributor));
  }

  @GrpcMethod('IngestService', 'GetVersionManifest')
  async getVersionManifest(r: api.GetVersionManifestRequest): Promise<api.VersionManifest> {
    const { version, entries } = await this.queries.manifest(r);
    return map.manifest(version, entries);
  }

  @GrpcMethod('IngestService', 'GetLeaderboard')
  async getLeaderboard(r: api.GetLeaderboardRequest): Promise<api.GetLeaderboardResponse> {
    return { entries: (await this.queries.leaderboard(r.datanetId, r.limit)).map(map.leaderboardEntry) };
  }
}
