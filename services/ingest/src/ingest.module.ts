import { Inject, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { OPAL_CONFIG, ProjectionHost, type OpalConfig } from '@opal/service-runtime';
import { IngestController } from './adapters/grpc/ingest.controller.js';
import { IngestForwarding } from './adapters/grpc/ingest-forwarding.js';
import { Eip712SignatureVerifier } from './adapters/crypto/eip712-signature.verifier.js';
import { AjvSchemaValidator } from './adapters/schema/ajv-schema.validator.js';
import { DatanetRepository } from './application/datanet.repository.js';
import { CreateDatanetHandler } from './application/create-datanet.handler.js';
import { SubmitContributionHandler } from './application/submit-contribution.handler.js';
import { ReviewContributionHandler } from './application/review-contribution.handler.js';
import { PublishVersionHandler } from './application/publish-version.handler.js';
import { IngestQueries } from './application/ingest.queries.js';
import { CONTENT_INSPECTOR, SCHEMA_VALIDATOR, SIGNATURE_VERIFIER } from './application/ingest.ports.js';
import { InspectionPool } from './adapters/inspection/inspection-pool.js';
import { ingestProjections } from './projections/index.js';

@Module({
  controllers: [IngestController],
  providers: [
    DatanetRepository,
    CreateDatanetHandler,
    SubmitContributionHandler,
    ReviewContributionHandler,
    PublishVersionHandler,
    IngestQueries,
    IngestForwarding,
    { provide: SIGNATURE_VERIFIER, inject: [OPAL_CONFIG], useFactory: (c: OpalConfig) => new Eip712SignatureVerifier(c.chainId) },
    { provide: SCHEMA_VALIDATOR, useValue: new AjvSchemaValidator() },
    { provide: CONTENT_INSPECTOR, inject: [OPAL_CONFIG], useFactory: (c: OpalConfig) => new InspectionPool(c.chainId, c.ingestWorkers) },
  ],
})
export class IngestModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(ProjectionHost) private readonly projections: ProjectionHost,
    @Inject(CONTENT_INSPECTOR) private readonly inspector: InspectionPool,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.inspector.close();
  }

  onModuleInit(): void {
    for (const p of ingestProjections) this.projections.register('ingest', p);
  }
}
