export { IngestModule } from './ingest.module.js';
export { ingestProjections } from './projections/index.js';
export { ingestContributionsProjection } from './projections/ingest-contributions.projection.js';
export { DatanetRepository, ingestCodec } from './application/datanet.repository.js';
export { Eip712SignatureVerifier, opalDomain, contributionTypes, reviewTypes } from './adapters/crypto/eip712-signature.verifier.js';
export { manifestRoot, manifestLeafEncoding } from './application/publish-version.handler.js';
export * from './domain/ingest.events.js';
export { contentHashOf, contributionIdOf } from './domain/identifiers.js';
