import { Inject, Injectable } from '@nestjs/common';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { AggregateCache, TypedEventCodec } from '@opal/event-sourcing';
import { initialDatanetState, evolveDatanet, type DatanetState } from '../domain/datanet.state.js';
import { ingestEventTypes, type IngestEvent } from '../domain/ingest.events.js';

export const ingestCodec = new TypedEventCodec<IngestEvent>('opal.ingest.v1', ingestEventTypes);

/** Datanet aggregates (write model), cached in memory and rebuilt from their streams. */
@Injectable()
export class DatanetRepository extends AggregateCache<DatanetState, IngestEvent> {
  constructor(@Inject(EVENT_LOG) log: EventLog) {
    super(log, { codec: ingestCodec, initial: initialDatanetState, evolve: evolveDatanet }, 'ingest');
  }
}
