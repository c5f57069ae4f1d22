export * from './gguf.errors.js';
export * from './gguf.types.js';
export { parseGguf, readGgufHeader, readTensorData } from './gguf.reader.js';
export { writeGguf, gv, type GgufTensorInput, type GgufWriteInput } from './gguf.writer.js';
export { seededRandom, gaussianFill } from './seeded-random.js';
export {
  generateTinyLlama, generateLoraAdapter, tinyVocabulary,
  type TinyLlamaOptions, type LoraAdapterOptions,
} from './tiny-llama.generator.js';
export { validateBaseModel, validateAdapter, sha256File, type BaseModelInfo, type AdapterInfo } from './model-validation.js';
export { writeTinyModelSet, type TinyModelSet } from './tiny-model-set.js';
