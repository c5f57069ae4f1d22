import { Inject, Injectable, Optional } from '@nestjs/common';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { AggregateCache } from '@opal/event-sourcing';
import { METRICS, type ProcessMetrics } from '@opal/service-runtime';
import { INFERENCE_CONFIG, type InferenceConfig } from '../inference.config.js';
import type { InferenceEvent } from '../domain/inference.events.js';
import { evolveRegistration, initialRegistration, type RegistrationState } from '../domain/registry.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';

/**
 * What a registration's write model takes in memory, cached: ~170 B measured on Node 20 without
 * the registration's digest, and its 64-character string on top (~90 B, estimated).
 */
const REGISTRATION_HEAP_BYTES = 320;

/**
 * Base-model and adapter streams (write model): one registration each, appended at expected version
 * 0. Past the process's budget (OPAL_INFERENCE_REGISTRY_CACHE_MB) the least recently used are dropped.
 */
@Injectable()
export class RegistryRepository extends AggregateCache<RegistrationState, InferenceEvent> {
  constructor(
    @Inject(EVENT_LOG) log: EventLog,
    @Optional() @Inject(INFERENCE_CONFIG) config?: Pick<InferenceConfig, 'registryCacheBytes'>,
    @Optional() @Inject(METRICS) metrics?: ProcessMetrics,
  ) {
    super(log, { codec: inferenceCodec, initial: initialRegistration, evolve: evolveRegistration, weight: () => REGISTRATION_HEAP_BYTES }, 'inference', {
      memoryBudgetBytes: config?.registryCacheBytes,
      onDropped: () => metrics?.aggregateDropped('registrations'),
    });
    metrics?.watchAggregateCache('registrations', () => this.cachedWeight);
  }
}
