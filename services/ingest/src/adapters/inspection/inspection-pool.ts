import { Worker } from 'node:worker_threads';
import type { ContentInspector, Inspection, InspectionRequest } from '../../application/ingest.ports.js';
import { Eip712SignatureVerifier } from '../crypto/eip712-signature.verifier.js';
import { inspectContent } from './inspect-content.js';

type Waiting = { request: InspectionRequest; resolve: (i: Inspection) => void; reject: (e: unknown) => void };

/**
 * Inspections on worker threads. Requests arriving in the same turn of the event loop go to a
 * worker as one message (message passing costs more than a small inspection), workers take
 * batches in turn. With no workers it inspects in the calling thread.
 */
export class InspectionPool implements ContentInspector {
  private readonly workers: Worker[] = [];
  private readonly inFlight = new Map<number, Waiting[]>();
  private queued: Waiting[] = [];
  private scheduled = false;
  private nextId = 0;
  private nextWorker = 0;
  private readonly local: Eip712SignatureVerifier;

  constructor(chainId: number, workers: number) {
    this.local = new Eip712SignatureVerifier(chainId);
    for (let i = 0; i < workers; i++) {
      const w = new Worker(new URL('./inspection.worker.js', import.meta.url), { workerData: { chainId } });
      w.on('message', (m: { id: number; results: Inspection[] }) => {
        const waiting = this.inFlight.get(m.id)!;
        this.inFlight.delete(m.id);
        m.results.forEach((r, k) => waiting[k]!.resolve(r));
      });
      w.on('error', (error) => {
        for (const waiting of this.inFlight.values()) for (const x of waiting) x.reject(error);
        this.inFlight.clear();
      });
      w.unref();
      this.workers.push(w);
    }
  }

  inspect(request: InspectionRequest): Promise<Inspection> {
    if (this.workers.length === 0) return Promise.resolve(inspectContent(this.local, request));
    return new Promise((resolve, reject) => {
      this.queued.push({ request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.dispatch());
      }
    });
  }

  private dispatch(): void {
    this.scheduled = false;
    const batch = this.queued;
    this.queued = [];
    const id = this.nextId++;
    this.inFlight.set(id, batch);
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    worker.postMessage({ id, requests: batch.map((b) => b.request) });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
