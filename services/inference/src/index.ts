export { InferenceModule } from './inference.module.js';
export { modelsProjection, inferenceCodec, type ModelDoc } from './projections/models.projection.js';
export { tenantsProjection, type TenantDoc } from './projections/tenants.projection.js';
export { inferenceProjections } from './projections/index.js';
export * from './domain/inference.events.js';
export { INFERENCE_CONFIG_VARIABLES, loadInferenceConfig, type InferenceConfig } from './inference.config.js';
export { TenantRepository } from './application/tenants.handler.js';
