export * from './envelope.js';
export * from './errors.js';
export * from './event-log.port.js';
export { EmbeddedEventLog, EMBEDDED_PARTITION, type EmbeddedEventLogOptions } from './embedded/embedded-event-log.adapter.js';
export { scanLogFile } from './embedded/log-file.js';
export { exportLog, toExported, payloadAsJson, EXPORT_FORMAT, type ExportedEvent } from './audit/log-export.js';
export { verifyExport, type VerifyResult } from './audit/log-verify.js';
export { frameRecord, truncateTo, RECORD_HEADER } from './embedded/log-file.js';
export { GroupCommitFile } from './embedded/group-commit-file.js';
