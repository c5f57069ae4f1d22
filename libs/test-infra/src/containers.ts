import { freePort } from './free-port.js';
import type { InfraEndpoints, InfraService } from './infra.js';

// Official images. Kafka's advertised listener must be the address the host uses, so the container's
// port is bound to a free host port chosen here, before the container starts.
const KAFKA_IMAGE = process.env.OPAL_KAFKA_IMAGE ?? 'apache/kafka:4.1.1';
const MONGO_IMAGE = process.env.OPAL_MONGO_IMAGE ?? 'mongo:7.0';

type Started = { stop(): Promise<unknown>; getHost(): string; getMappedPort(port: number): number };
/** Each service is started once per process, when first asked for; later calls may ask for others. */
const running = new Map<'kafka' | 'mongo', Promise<InfraEndpoints>>();
const started: Started[] = [];

/** Starts Kafka and MongoDB (each once per process) with testcontainers; they stop when the process exits. */
export async function startContainers(services: readonly InfraService[]): Promise<InfraEndpoints> {
  if (services.includes('chain')) throw new Error('OPAL_INFRA=containers provides kafka and mongo; the chain is anvil from npm');
  if (started.length === 0 && running.size === 0) process.once('beforeExit', () => void stopContainers());
  const wanted = services.filter((s): s is 'kafka' | 'mongo' => s === 'kafka' || s === 'mongo');
  for (const s of wanted) if (!running.has(s)) running.set(s, s === 'kafka' ? startKafka() : startMongo());
  return Object.assign({}, ...(await Promise.all(wanted.map((s) => running.get(s)!))));
}

// Loaded only in this mode, so machines without Docker never touch it.
const testcontainers = () => import('testcontainers');

async function startKafka(): Promise<InfraEndpoints> {
  const tc = await testcontainers();
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
  return { kafkaBrokers: `127.0.0.1:${port}` };
}

async function startMongo(): Promise<InfraEndpoints> {
  const tc = await testcontainers();
  const mongo = await new tc.GenericContainer(MONGO_IMAGE)
    .withExposedPorts(27017)
    .withWaitStrategy(tc.Wait.forLogMessage(/Waiting for connections/))
    .start();
  started.push(mongo);
  return { mongoUrl: `mongodb://${mongo.getHost()}:${mongo.getMappedPort(27017)}/opal?directConnection=true` };
}

export async function stopContainers(): Promise<void> {
  const all = started.splice(0);
  running.clear();
  await Promise.allSettled(all.map((c) => c.stop()));
}
