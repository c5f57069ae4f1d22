import { parentPort, workerData } from 'node:worker_threads';
import { KafkaEventLog } from '@opal/event-log-kafka';
import { MongoDocumentStore } from '@opal/document-store-mongo';
import { ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { ingestContributionsProjection } from '@opal/ingest';

// The consuming side of the end-to-end pipeline bench, on its own thread as `opal serve` runs it
// in its own process: ingest.contributions from Kafka into MongoDB. Reports how many events it has
// applied whenever the parent asks; 'stop' ends it.
export type ProjectionWorkerData = { brokers: string[]; mongoUrl: string; tag: string; partitions: number };

const { brokers, mongoUrl, tag, partitions } = workerData as ProjectionWorkerData;
const log = await KafkaEventLog.connect({ brokers, clientId: 'bench-e2e-consumer', logLevel: 'nothing', topics: { prefix: `${tag}.`, defaultPartitions: partitions }, groupPrefix: `${tag}.` });
const store = await MongoDocumentStore.connect({ url: mongoUrl });
const runner = new ProjectionRunner(log, store, ingestContributionsProjection as unknown as Projection<DomainEvent>);
await runner.start();
await runner.caughtUp();
parentPort!.on('message', (m: string) => {
  if (m === 'applied') parentPort!.postMessage({ applied: runner.appliedEvents });
  if (m === 'stop') {
    void (async () => {
      await runner.stop();
      await store.dropDatabase();
      await store.close();
      await log.close();
      parentPort!.postMessage({ stopped: true });
    })();
  }
});
parentPort!.postMessage({ ready: true });
