export { freePort } from './free-port.js';
export { ensureInfra, infraScript, type Infra, type InfraEndpoints, type InfraService, type SecureKafka } from './infra.js';
export { stopContainers } from './containers.js';
export { deleteTopics, withKafkaAdmin } from './kafka-topics.js';
