import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { join } from 'node:path';
import { OPAL_CONFIG, ProjectionHost, type OpalConfig } from '@opal/service-runtime';
import { AttributionController } from './adapters/grpc/attribution.controller.js';
import { StoredContributionContent } from './adapters/files/stored-contribution-content.js';
import { CONTENT_STORE, type ContentStore } from '@opal/content-store';
import { IndexDirectoryStore } from './adapters/files/index-directory.store.js';
import { AttributionQueries } from './application/attribution.queries.js';
import { CONTRIBUTION_CONTENT, INDEX_FILES } from './application/attribution.ports.js';
import { IndexBuilderReactor } from './application/index-builder.reactor.js';
import { IndexCatalog } from './application/index-catalog.js';
import { LocalIndexes } from './application/local-indexes.js';
import { ReceiptWriterReactor } from './application/receipt-writer.reactor.js';
import { receiptsProjection } from './projections/receipts.projection.js';
import { versionsProjection } from './projections/versions.projection.js';

@Module({
  controllers: [AttributionController],
  providers: [
    AttributionQueries,
    IndexCatalog,
    LocalIndexes,
    IndexBuilderReactor,
    ReceiptWriterReactor,
    { provide: INDEX_FILES, inject: [OPAL_CONFIG], useFactory: (c: OpalConfig) => new IndexDirectoryStore(join(c.dataDir, 'indexes')) },
    // The platform's content-addressed store: no dependency on ingest being up, no message limit.
    { provide: CONTRIBUTION_CONTENT, inject: [CONTENT_STORE], useFactory: (c: ContentStore) => new StoredContributionContent(c) },
  ],
})
export class AttributionModule implements OnModuleInit {
  constructor(@Inject(ProjectionHost) private readonly projections: ProjectionHost) {}

  onModuleInit(): void {
    this.projections.register('attribution', receiptsProjection);
    this.projections.register('attribution', versionsProjection);
  }
}
