import { parentPort, workerData } from 'node:worker_threads';
import { replayProjections, selectProjections } from './replay.js';

// One replay thread: rebuilds the named projections over the log's first `upTo` records (the length
// the main thread found, the same for every thread) and reports their digests.
const { logDir, projections, upTo } = workerData as { logDir: string; projections: string[]; upTo: number };
const selected = selectProjections().filter((s) => projections.includes(s.projection.name));
let last = 0;
const progress = (done: number, total: number) => {
  const now = Date.now();
  if (now - last > 250 || done === total) {
    last = now;
    parentPort!.postMessage({ type: 'progress', done, total });
  }
};
const result = await replayProjections(logDir, selected, progress, upTo);
parentPort!.postMessage({ type: 'done', result });
