import { parentPort, workerData } from 'node:worker_threads';
import { Eip712SignatureVerifier } from '../crypto/eip712-signature.verifier.js';
import type { InspectionRequest } from '../../application/ingest.ports.js';
import { inspectContent } from './inspect-content.js';

// A worker of the inspection pool: batches of requests in, batches of inspections out.
const verifier = new Eip712SignatureVerifier((workerData as { chainId: number }).chainId);
parentPort!.on('message', (batch: { id: number; requests: InspectionRequest[] }) => {
  parentPort!.postMessage({ id: batch.id, results: batch.requests.map((r) => inspectContent(verifier, r)) });
});
