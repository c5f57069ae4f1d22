export * from './canonical-json.js';
export * from './domain-event.js';
export * from './typed-event-codec.js';
export * from './document-store.port.js';
export { MemoryDocumentStore, type MemoryDocumentStoreOptions, type DocumentTable } from './memory-document-store.js';
export * from './projection.js';
export { ProjectionRunner, type ProjectionRunnerOptions } from './projection-runner.js';
export { AggregateCache, type AggregateDefinition, type CommandContext } from './aggregate-cache.js';
export { ProjectionRebuild } from './projection-rebuild.js';
