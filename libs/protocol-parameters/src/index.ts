export { parameterSpecs, type ParameterSpec } from './parameter-specs.js';
