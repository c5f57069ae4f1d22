import { serviceOfEventType, serviceStreams, type ServiceName } from '@opal/contracts';
import { EventLogError, streamPrefix, type NewEvent } from '@opal/event-log';

const serviceOf = new Map<string, ServiceName | undefined>();

/**
 * Refuses events of a service bound for a stream that service does not write (serviceStreams):
 * readers that follow only those streams (on Kafka, the service's topic) would never see them.
 * Events of no service (a type outside `opal.<service>.v1`) and of services that list no streams
 * go anywhere.
 */
export function assertPlaced(streamId: string, events: readonly NewEvent[]): void {
  const prefix = streamPrefix(streamId);
  for (const e of events) {
    let service = serviceOf.get(e.type);
    if (service === undefined && !serviceOf.has(e.type)) serviceOf.set(e.type, (service = serviceOfEventType(e.type)));
    if (service === undefined) continue;
    const streams = serviceStreams[service];
    if (streams.length > 0 && !streams.includes(prefix)) {
      throw new EventLogError('INVALID_ARGUMENT', `streamId: ${streamId} cannot hold ${e.type}; ${service} events go to ${streams.map((s) => `${s}-…`).join(', ')}`);
    }
  }
}
