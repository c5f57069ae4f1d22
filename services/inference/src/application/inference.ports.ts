import type { DoneChunk, GenerateChunk, GenerateRequest } from '@opal/lora-runtime';
import type { ModelDoc } from '../projections/models.projection.js';

/** What to serve: a base model, and the adapter on it (null: the base alone). */
export type ServingTarget = { readonly base: ModelDoc; readonly adapter: ModelDoc | null };

export type EngineStats = { readonly residentAdapters: number; readonly loadingAdapters: number; readonly waitingRequests: number };

/** The engines (llama.cpp, remote, infini-gram) and adapter residency, behind one port. */
export interface ServingEngines {
  generate(target: ServingTarget, req: Omit<GenerateRequest, 'baseModelId' | 'adapterId'>): AsyncIterable<GenerateChunk>;
  stats(): EngineStats;
  close(): Promise<void>;
}
export const SERVING_ENGINES = Symbol('ServingEngines');

/** Request metrics; label values must come from a small set (base model, engine, outcome). */
export interface InferenceMetrics {
  requestStarted(): () => void;
  observe(base: ModelDoc, done: DoneChunk): void;
  refused(reason: string): void;
}
export const INFERENCE_METRICS = Symbol('InferenceMetrics');

/** sha256 hex of an API key, and fresh keys. */
export interface KeyHasher {
  hash(apiKey: string): string;
  newKey(): string;
}
/** Whether a Datanet version is published, as this service's read models have it (caught up with the log when not found). */
export type PublishedVersions = { has(datanetVersion: string): Promise<boolean> };
export const PUBLISHED_VERSIONS = Symbol('PublishedVersions');

export const KEY_HASHER = Symbol('KeyHasher');
