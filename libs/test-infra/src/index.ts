export { freePort } from './free-port.js';
export { ensureInfra, ensureTool, infraScript, type Infra, type InfraEndpoints, type InfraService, type SecureKafka, type SecureMongo, type Tool } from './infra.js';
export { stopContainers } from './containers.js';
export { deleteTopics, withKafkaAdmin } from './kafka-topics.js';
export { dropDb } from './mongo-databases.js';
