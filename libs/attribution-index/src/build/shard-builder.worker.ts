import { parentPort } from 'node:worker_threads';
import { writeShardFile } from '../format/shard-file.js';
import { buildShardData, type ShardInput } from './shard-input.js';

export type ShardJob = ShardInput & { readonly path: string };
export type ShardJobResult = ({ readonly shard: number; readonly sha256: string; readonly bytes: number } | { readonly shard: number; readonly error: string; readonly code?: string }) & {
  /** The job's token buffer, handed back for the builder to fill with a later shard. */
  readonly buffer: ArrayBuffer;
};

// One shard per message. The token buffer arrives transferred and goes back transferred, and the
// suffix array is built into the same array every time: memory stays at one shard per thread
// however many shards pass through, with no large garbage waiting for a collection.
let saBuffer: Int32Array | undefined;

parentPort?.on('message', (job: ShardJob) => {
  const buffer = job.tokens.buffer as ArrayBuffer;
  let result: ShardJobResult;
  try {
    if (!saBuffer || saBuffer.length < job.tokens.length) {
      saBuffer = undefined; // so a collection during the allocation can free the smaller one
      saBuffer = new Int32Array(buffer.byteLength / 4);
    }
    const { sha256, bytes } = writeShardFile(job.path, buildShardData(job, saBuffer));
    result = { shard: job.shard, sha256, bytes, buffer };
  } catch (e) {
    // The system error's code too (ENOSPC, EIO, ...): the caller tells the machine's failures from the input's by it.
    const code = (e as { code?: unknown } | undefined)?.code;
    result = { shard: job.shard, error: e instanceof Error ? e.stack ?? e.message : String(e), ...(typeof code === 'string' ? { code } : {}), buffer };
  }
  parentPort!.postMessage(result, [buffer]);
});
