import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { AggregateCache, TypedEventCodec } from '@opal/event-sourcing';
import { LOGGER, METRICS, OPAL_CONFIG, type OpalConfig, type ProcessMetrics } from '@opal/service-runtime';
import { datanetWeight, initialDatanetState, evolveDatanet, type DatanetState } from '../domain/datanet.state.js';
import { ingestEventTypes, type IngestEvent } from '../domain/ingest.events.js';

export const ingestCodec = new TypedEventCodec<IngestEvent>('opal.ingest.v1', ingestEventTypes);

/**
 * Datanet aggregates (write model), cached in memory and rebuilt from their streams. A Datanet's
 * holds about 2 KB per contribution; past the process's budget (OPAL_DATANET_CACHE_MB) the least
 * recently used are dropped and rebuilt when next used.
 */
@Injectable()
export class DatanetRepository extends AggregateCache<DatanetState, IngestEvent> {
  constructor(
    @Inject(EVENT_LOG) log: EventLog,
    @Optional() @Inject(OPAL_CONFIG) config?: Pick<OpalConfig, 'datanetCacheBytes'>,
    @Optional() @Inject(LOGGER) logger?: Logger,
    @Optional() @Inject(METRICS) metrics?: ProcessMetrics,
  ) {
    super(log, { codec: ingestCodec, initial: initialDatanetState, evolve: evolveDatanet, weight: datanetWeight }, 'ingest', {
      memoryBudgetBytes: config?.datanetCacheBytes,
      onDropped: (streamId, weight) => {
        metrics?.aggregateDropped('datanets');
        logger?.info({ streamId, megabytes: Math.round(weight / 2 ** 20) }, 'Datanet write model dropped from memory (OPAL_DATANET_CACHE_MB); it loads again when next used');
      },
    });
    metrics?.watchAggregateCache('datanets', () => this.cachedWeight);
  }
}
