export { AttributionModule } from './attribution.module.js';
export { receiptsProjection, attributionCodec } from './projections/receipts.projection.js';
