import type { ServiceName } from './index.js';

/**
 * The kinds of stream each service writes, by prefix of their ids (the part before the first '-'
 * or ':'). A service writes only its own events (package `opal.<service>.v1`), and only to these
 * streams: a reader of some event types can then follow just the streams that hold them (on Kafka,
 * the service's topic). A service with none listed writes no stream yet.
 */
export const serviceStreams: Readonly<Record<ServiceName, readonly string[]>> = {
  ingest: ['datanet'],
  inference: ['base', 'adapter', 'tenant', 'inference'],
  attribution: ['attribution'],
  settlement: [],
  governance: [],
};

const PACKAGE = /^opal\.([a-z]+)\.v\d+\.[A-Za-z0-9]+$/;

/** The service whose events have this full type (`opal.ingest.v1.DatanetCreated` → ingest), if any. */
export function serviceOfEventType(type: string): ServiceName | undefined {
  const name = PACKAGE.exec(type)?.[1];
  return name !== undefined && Object.hasOwn(serviceStreams, name) ? (name as ServiceName) : undefined;
}

/**
 * The streams that hold every event of these types, by prefix; undefined when some type has no
 * known streams (its service lists none, or it is no service's), so a reader must follow them all.
 */
export function streamsOfEventTypes(types: Iterable<string>): readonly string[] | undefined {
  const out = new Set<string>();
  for (const type of types) {
    const service = serviceOfEventType(type);
    const streams = service ? serviceStreams[service] : [];
    if (streams.length === 0) return undefined;
    for (const s of streams) out.add(s);
  }
  return out.size > 0 ? [...out].sort() : undefined;
}
