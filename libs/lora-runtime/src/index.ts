export * from './inference-engine.port.js';
export * from './inference.errors.js';
export { StopSequenceFilter } from './stop-sequence.filter.js';
export { SlotSemaphore } from './slot.semaphore.js';
export { LlamaCppEngine, type LlamaCppEngineOptions } from './llama-cpp/llama-cpp.engine.js';
export {
  AdapterResidency, type AdapterRecord, type AdapterResidencyOptions, type AdapterTier, type AdapterLease, type ResidencyStats,
} from './residency/adapter-residency.js';
export { HostAdapterCache, type HostCacheOptions } from './residency/host-adapter.cache.js';
export { OpenAiRemoteEngine, type OpenAiRemoteEngineOptions } from './openai-remote/openai-remote.engine.js';
export { InfiniGramEngine, type InfiniGramEngineOptions } from './infini-gram/infini-gram.engine.js';
export { InfiniGramSampler } from './infini-gram/infini-gram.sampler.js';
export { GenerationMeter } from './generation-meter.js';
