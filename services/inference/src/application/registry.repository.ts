import { Inject, Injectable } from '@nestjs/common';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { AggregateCache } from '@opal/event-sourcing';
import type { InferenceEvent } from '../domain/inference.events.js';
import { evolveRegistration, initialRegistration, type RegistrationState } from '../domain/registry.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';

/** Base-model and adapter streams (write model): one registration each, appended at expected version 0. */
@Injectable()
export class RegistryRepository extends AggregateCache<RegistrationState, InferenceEvent> {
  constructor(@Inject(EVENT_LOG) log: EventLog) {
    super(log, { codec: inferenceCodec, initial: initialRegistration, evolve: evolveRegistration }, 'inference');
  }
}
