export * from './envelope.js';
export * from './errors.js';
export * from './event-log.port.js';
export { EmbeddedEventLog, EMBEDDED_PARTITION, type EmbeddedEventLogOptions } from './embedded/embedded-event-log.adapter.js';
export { scanLogFile } from './embedded/log-file.js';
