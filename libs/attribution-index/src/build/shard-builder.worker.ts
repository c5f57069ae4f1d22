import { parentPort } from 'node:worker_threads';
import { writeShardFile } from '../format/shard-file.js';
import { buildShardData, type ShardInput } from './shard-input.js';

export type ShardJob = ShardInput & { readonly path: string };
export type ShardJobResult = { readonly shard: number; readonly sha256: string; readonly bytes: number } | { readonly shard: number; readonly error: string };

// One shard per message; the token buffer arrives transferred, so nothing is copied.
parentPort?.on('message', (job: ShardJob) => {
  try {
    const { sha256, bytes } = writeShardFile(job.path, buildShardData(job));
    parentPort!.postMessage({ shard: job.shard, sha256, bytes } satisfies ShardJobResult);
  } catch (e) {
    parentPort!.postMessage({ shard: job.shard, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies ShardJobResult);
  }
});
