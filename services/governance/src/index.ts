export { GovernanceModule } from './governance.module.js';
export { parametersProjection, governanceCodec } from './projections/parameters.projection.js';
export { parameterSpecs } from '@opal/protocol-parameters';
