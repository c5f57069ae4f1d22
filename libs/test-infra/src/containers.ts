import { freePort } from './free-port.js';
import type { InfraEndpoints, InfraService } from './infra.js';

// Official images. Kafka's advertised listener must be the address the host uses, so the container's
// port is bound to a free host port chosen here, before the container starts.
const KAFKA_IMAGE = process.env.OPAL_KAFKA_IMAGE ?? 'apache/kafka:4.1.1';
const MONGO_IMAGE = process.env.OPAL_MONGO_IMAGE ?? 'mongo:7.0';

type Started = { stop(): Promise<unknown>; getHost(): string; getMappedPort(port: number): number };
let running: Promise<InfraEndpoints> | undefined;
const started: Started[] = [];

/** Starts Kafka and MongoDB once per process with testcontainers; they stop when the process exits. */
export function startContainers(services: readonly InfraService[]): Promise<InfraEndpoints> {
  if (services.includes('chain')) throw new Error('OPAL_INFRA=containers provides kafka and mongo; the chain is anvil from npm');
  running ??= start(services);
  return running;
}

async function start(services: readonly InfraService[]): Promise<InfraEndpoints> {
  // Loaded only in this mode, so machines without Docker never touch it.
  const tc = await import('testcontainers');
  const endpoints: { kafkaBrokers?: string; mongoUrl?: string } = {};
  if (services.includes('kafka')) {
    const port = await freePort();
    const kafka = await new tc.GenericContainer(KAFKA_IMAGE)
      .withExposedPorts({ container: 9092, host: port })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      })
      .withWaitStrategy(tc.Wait.forLogMessage(/Kafka Server started/))
      .start();
    started.push(kafka);
    endpoints.kafkaBrokers = `127.0.0.1:${port}`;
  }
  if (services.includes('mongo')) {
    const mongo = await new tc.GenericContainer(MONGO_IMAGE)
      .withExposedPorts(27017)
      .withWaitStrategy(tc.Wait.forLogMessage(/Waiting for connections/))
      .start();
    started.push(mongo);
    endpoints.mongoUrl = `mongodb://${mongo.getHost()}:${mongo.getMappedPort(27017)}/opal?directConnection=true`;
  }
  process.once('beforeExit', () => void stopContainers());
  return endpoints;
}

export async function stopContainers(): Promise<void> {
  const all = started.splice(0);
  running = undefined;
  await Promise.allSettled(all.map((c) => c.stop()));
}
