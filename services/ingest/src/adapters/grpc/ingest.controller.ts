import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod, GrpcStreamCall } from '@nestjs/microservices';
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
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

const Filter = createRpcExceptionFilter('ingest', ingestErrorMapper);

/** gRPC edge of ingest: proto message in, command or query, proto message out. */
@Controller()
@UseFilters(Filter)
export class IngestController {
  constructor(
    private readonly create: CreateDatanetHandler,
    private readonly submit: SubmitContributionHandler,
    private readonly review: ReviewContributionHandler,
    private readonly publish: PublishVersionHandler,
    private readonly queries: IngestQueries,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @GrpcMethod('IngestService', 'CreateDatanet')
  createDatanet(r: api.CreateDatanetRequest): Promise<api.CreateDatanetResponse> {
    return this.create.execute(map.createDatanetInput(r));
  }

  @GrpcMethod('IngestService', 'SubmitContribution')
  async submitContribution(r: api.SubmitContributionRequest): Promise<api.SubmitContributionResponse> {
    return map.submissionResponse(await this.submit.execute(map.submitInput(r)));
  }

  @GrpcStreamCall('IngestService', 'SubmitContributions')
  submitContributions(
    call: ServerReadableStream<api.SubmitContributionRequest, api.SubmitContributionsResponse>,
    callback: sendUnaryData<api.SubmitContributionsResponse>,
  ): Promise<void> {
    return handleSubmissionStream(call, callback, this.submit, this.logger);
  }

  @GrpcMethod('IngestService', 'ReviewContribution')
  reviewContribution(r: api.ReviewContributionRequest): Promise<api.ReviewContributionResponse> {
    return this.review.execute({ ...r, signature: r.signature ?? new Uint8Array(0) });
  }

  @GrpcMethod('IngestService', 'PublishVersion')
  publishVersion(r: api.PublishVersionRequest): Promise<api.PublishVersionResponse> {
    return this.publish.execute(r.datanetId);
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
