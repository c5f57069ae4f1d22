import { Worker } from 'node:worker_threads';
import type { ShardJob, ShardJobResult } from './shard-builder.worker.js';

/** A fixed set of shard-building threads; each builds one shard at a time. */
export class ShardWorkerPool {
  private readonly idle: Worker[] = [];
  private readonly waiting: ((w: Worker) => void)[] = [];
  private readonly all: Worker[] = [];
  /** An error a worker raised outside a job (one that could not start): the next job fails with it. */
  private broken: Error | undefined;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./shard-builder.worker.js', import.meta.url));
      // Without a listener an 'error' before the first job (ERR_WORKER_INIT_FAILED, out of memory)
      // would be thrown in the process, not in the build.
      w.on('error', (e) => (this.broken ??= e));
      this.all.push(w);
      this.idle.push(w);
    }
  }

  /** Resolves once a worker is free to take the next shard (bounds memory: one shard per worker). */
  async acquire(): Promise<Worker> {
    const w = this.idle.pop();
    if (w) return w;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  run(worker: Worker, job: ShardJob): Promise<ShardJobResult> {
    return new Promise((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      const onError = (e: Error) => reject(e);
      worker.once('error', onError);
      worker.once('message', (r: ShardJobResult) => {
        worker.off('error', onError);
        // Settle the job before waking the next taker, so whatever the job's handler does (taking
        // the returned buffer back) happens first.
        resolve(r);
        const next = this.waiting.shift();
        if (next) next(worker);
        else this.idle.push(worker);
      });
      // Transfer the buffers: the worker owns them from here, the builder never touches them again
      // (the token buffer comes back with the result).
      const sections = [job.tokens, job.docStarts, job.docOrder, job.docContributor, job.docIdOffsets, job.docIdBytes, job.contributorOffsets, job.contributorBytes];
      worker.postMessage(job, [...new Set(sections.map((a) => a.buffer as ArrayBuffer))]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}
