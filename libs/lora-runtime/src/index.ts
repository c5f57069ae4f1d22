export * from './inference-engine.port.js';
export * from './inference.errors.js';
export { StopSequenceFilter } from './stop-sequence.filter.js';
export { SlotSemaphore } from './slot.semaphore.js';
export { LlamaCppEngine, type LlamaCppEngineOptions } from './llama-cpp/llama-cpp.engine.js';
