export { AttributionModule } from './attribution.module.js';
export { attributionProjections } from './projections/index.js';
export { receiptsProjection } from './projections/receipts.projection.js';
export { attributionCodec } from './application/attribution.codecs.js';
export { verifyReceipt, type VerifyReceiptResult } from './application/verify-receipt.js';
export { IndexDirectoryStore } from './adapters/files/index-directory.store.js';
export { StoredContributionContent } from './adapters/files/stored-contribution-content.js';
export * from './domain/attribution.events.js';
