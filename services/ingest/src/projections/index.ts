import { ingestCatalogProjection } from './ingest-catalog.projection.js';
import { ingestContributionsProjection } from './ingest-contributions.projection.js';

export const ingestProjections = [ingestCatalogProjection, ingestContributionsProjection] as const;
