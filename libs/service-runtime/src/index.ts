export * from './config.js';
export * from './logger.js';
export * from './platform.module.js';
export * from './projection-host.js';
export * from './metrics.js';
export * from './grpc-server.js';
export * from './rpc-error.js';
export * from './rpc-exception.filter.js';
export { AdminModule } from './admin.module.js';
