export { SettlementModule } from './settlement.module.js';
export { balancesProjection, settlementCodec } from './projections/balances.projection.js';
export { epochsProjection } from './projections/epochs.projection.js';
