export { InferenceModule } from './inference.module.js';
export { modelsProjection, inferenceCodec } from './projections/models.projection.js';
