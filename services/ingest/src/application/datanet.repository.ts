import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { AggregateCache, CONTENDED_MS, TypedEventCodec } from '@opal/event-sourcing';
import { COMMAND_ROUTING, LOGGER, METRICS, OPAL_CONFIG, type CommandRouting, type OpalConfig, type ProcessMetrics } from '@opal/service-runtime';
import { datanetWeight, initialDatanetState, evolveDatanet, type DatanetState } from '../domain/datanet.state.js';
import { ingestEventTypes, type IngestEvent } from '../domain/ingest.events.js';

export const ingestCodec = new TypedEventCodec<IngestEvent>('opal.ingest.v1', ingestEventTypes);

/**
 * The first wait without deciding ahead after a lost race where commands are routed to each
 * Datanet's owner: a race there means the owner changed (a deploy, a replica gone), and the new one
 * is alone within seconds. Replicas that are not routed keep racing, and wait CONTENDED_MS.
 */
const ROUTED_CONTENDED_MS = 5000;

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
    @Optional() @Inject(COMMAND_ROUTING) routing?: CommandRouting,
  ) {
    super(log, { codec: ingestCodec, initial: initialDatanetState, evolve: evolveDatanet, weight: datanetWeight }, 'ingest', {
      memoryBudgetBytes: config?.datanetCacheBytes,
      contendedMs: () => (routing?.address !== undefined ? ROUTED_CONTENDED_MS : CONTENDED_MS),
      onDropped: (streamId, weight) => {
        metrics?.aggregateDropped('datanets');
        logger?.info({ streamId, megabytes: Math.round(weight / 2 ** 20) }, 'Datanet write model dropped from memory (OPAL_DATANET_CACHE_MB); it loads again when next used');
      },
    });
    metrics?.watchAggregateCache('datanets', () => this.cachedWeight);
  }
}
