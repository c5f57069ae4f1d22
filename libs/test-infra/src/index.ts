export { ensureInfra, type Infra, type InfraEndpoints, type InfraService } from './infra.js';
export { stopContainers } from './containers.js';
