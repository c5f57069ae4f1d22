export { startNode, openEmbedded, type RunningNode } from './node.js';
export { replayFromLog, type ReplayResult } from './replay.js';
export { services } from './service-registry.js';
export { run, main } from './main.js';
export { kafkaOptions, openBackends, openEventLog, openMongoClient, storeTlsFiles, type Backends } from './backends.js';
