import { parentPort, workerData } from 'node:worker_threads';
import { replayProjections, selectProjections } from './replay.js';

// One replay thread: rebuilds the named projections over the whole log and reports their digests.
const { logDir, projections } = workerData as { logDir: string; projections: string[] };
const selected = selectProjections().filter((s) => projections.includes(s.projection.name));
let last = 0;
const result = await replayProjections(logDir, selected, (done, total) => {
  const now = Date.now();
  if (now - last > 250 || done === total) {
    last = now;
    parentPort!.postMessage({ type: 'progress', done, total });
  }
});
parentPort!.postMessage({ type: 'done', result });
