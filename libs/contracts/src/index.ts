import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Folder holding the .proto files; the gRPC transport loads them from here at run time. */
export const protoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proto');

export type ServiceName = 'ingest' | 'inference' | 'attribution' | 'settlement' | 'governance';
export const serviceNames: readonly ServiceName[] = ['ingest', 'inference', 'attribution', 'settlement', 'governance'];

/** The proto file and fully qualified gRPC service name of each service's API. */
export const serviceProtos: Record<ServiceName | 'admin', { file: string; pkg: string; service: string }> = {
  ingest: { file: 'opal/ingest/v1/ingest.proto', pkg: 'opal.ingest.v1', service: 'IngestService' },
  inference: { file: 'opal/inference/v1/inference.proto', pkg: 'opal.inference.v1', service: 'InferenceService' },
  attribution: { file: 'opal/attribution/v1/attribution.proto', pkg: 'opal.attribution.v1', service: 'AttributionService' },
  settlement: { file: 'opal/settlement/v1/settlement.proto', pkg: 'opal.settlement.v1', service: 'SettlementService' },
  governance: { file: 'opal/governance/v1/governance.proto', pkg: 'opal.governance.v1', service: 'GovernanceService' },
  admin: { file: 'opal/admin/v1/admin.proto', pkg: 'opal.admin.v1', service: 'AdminService' },
};
export { eventCatalog, type EventCodec } from './event-catalog.js';
export { internedString } from './wire/interned-string.js';
export { utf8Slice, latin1Slice } from './wire/utf8-slice.js';
export { serviceStreams, serviceOfEventType, streamsOfEventTypes } from './event-streams.js';
