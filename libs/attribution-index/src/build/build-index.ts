import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { wordTokenizer } from '../tokenizer/word-tokenizer.js';
import { Vocabulary } from '../tokenizer/vocabulary.js';
import { writeShardFile } from '../format/shard-file.js';
import { computeIndexHash, MANIFEST_FILE, type IndexManifest } from '../format/manifest.js';
import { DocumentTableBuilder } from './document-table.js';
import { buildShardData, type ShardInput } from './shard-input.js';
import { ShardWorkerPool } from './worker-pool.js';

/** One accepted contribution. Give `text`, or `tokenIds` already mapped with `options.vocabulary`. */
export type IndexDocument = {
  readonly contributionId: string;
  readonly contributor: string;
  /** Acceptance order (an integer); the earliest copy of a passage keeps its credit. */
  readonly orderKey: number;
  readonly text?: string;
  readonly tokenIds?: Uint32Array;
};

export type BuildProgress = {
  readonly tokens: number;
  readonly documents: number;
  readonly shardsQueued: number;
  readonly shardsWritten: number;
  readonly done: boolean;
};

export type BuildOptions = {
  /** Directory the index is written to (created if missing). */
  readonly dir: string;
  readonly tokenizer?: Tokenizer;
  /** Needed with `tokenIds`; with text, words are added to it (a fresh one by default). */
  readonly vocabulary?: Vocabulary;
  /** Positions per shard at most (tokens plus one separator per document); default 64M, at most 520M. */
  readonly shardTokens?: number;
  /** Shard-building threads; 0 builds on the calling thread. Default: one per core, at most 2. */
  readonly workers?: number;
  readonly onProgress?: (p: BuildProgress) => void;
};

const DEFAULT_SHARD_TOKENS = 64 * 1024 * 1024;
// A shard file (about 8 bytes a position) is loaded into one buffer, at most 4 GiB.
const MAX_SHARD_TOKENS = 520_000_000;

/**
 * Builds an index directory: documents are split on document boundaries into shards, each shard's
 * suffix array is built on its own thread, and a manifest names the result by hash.
 */
export async function buildIndex(documents: Iterable<IndexDocument> | AsyncIterable<IndexDocument>, options: BuildOptions): Promise<IndexManifest> {
  const tokenizer = options.tokenizer ?? wordTokenizer;
  const vocabulary = options.vocabulary ?? new Vocabulary();
  const capacity = options.shardTokens ?? DEFAULT_SHARD_TOKENS;
  if (!(capacity >= 1 && capacity <= MAX_SHARD_TOKENS)) throw new RangeError(`shardTokens must lie in 1..${MAX_SHARD_TOKENS}`);
  const workers = options.workers ?? Math.min(2, availableParallelism());
  mkdirSync(options.dir, { recursive: true });
  const pool = workers > 0 ? new ShardWorkerPool(workers) : undefined;
  const shards: { file: string; sha256: string; positions: number; documents: number; bytes: number }[] = [];
  const pending: Promise<void>[] = [];
  let totalTokens = 0;
  let totalDocs = 0;
  let written = 0;
  const progress = (done: boolean) => options.onProgress?.({ tokens: totalTokens, documents: totalDocs, shardsQueued: shards.length, shardsWritten: written, done });

  // Token buffers come back from the workers once their shard is written and are filled again,
  // so a build holds at most workers + 1 of them, however many shards it writes.
  const spare: ArrayBuffer[] = [];
  const shardBuffer = (need: number) => {
    const b = spare.pop();
    return b && b.byteLength >= need * 4 ? new Uint32Array(b, 0, b.byteLength / 4) : new Uint32Array(need);
  };
  let buf = shardBuffer(capacity);
  let len = 0;
  let docs = new DocumentTableBuilder();

  const flush = async () => {
    if (docs.documents === 0) return;
    const shard = shards.length;
    const file = `shard-${String(shard).padStart(4, '0')}.opx`;
    const input: ShardInput = { shard, tokenizerId: tokenizer.id, alphabetSize: vocabulary.size, tokens: buf.subarray(0, len), ...docs.finish(len) };
    const entry = { file, sha256: '', positions: len, documents: docs.documents, bytes: 0 };
    shards.push(entry);
    buf = new Uint32Array(0);
    len = 0;
    docs = new DocumentTableBuilder();
    const path = join(options.dir, file);
    if (pool) {
      const worker = await pool.acquire();
      pending.push(
        pool.run(worker, { ...input, path }).then((r) => {
          spare.push(r.buffer);
          if ('error' in r) throw Object.assign(new Error(`shard ${shard}: ${r.error}`), r.code ? { code: r.code } : {});
          Object.assign(entry, { sha256: r.sha256, bytes: r.bytes });
          written++;
          progress(false);
        }),
      );
    } else {
      Object.assign(entry, writeShardFile(path, buildShardData(input)));
      spare.push(input.tokens.buffer as ArrayBuffer);
      written++;
    }
    progress(false);
  };

  try {
    for await (const doc of documents) {
      const ids_ = documentIds(doc, tokenizer, vocabulary);
      if (!Number.isSafeInteger(doc.orderKey)) throw new Error(`${doc.contributionId}: orderKey must be an integer`);
      const need = ids_.length + 1;
      if (len + need > buf.length) {
        await flush();
        buf = shardBuffer(Math.max(capacity, need));
      }
      docs.add(len, doc.orderKey, doc.contributionId, doc.contributor);
      buf.set(ids_, len);
      len += ids_.length;
      buf[len++] = 0;
      totalTokens += ids_.length;
      totalDocs++;
    }
    await flush();
    await Promise.all(pending);
  } finally {
    await pool?.close();
  }

  const vocabBytes = vocabulary.serialize();
  writeFileSync(join(options.dir, 'vocabulary.txt'), vocabBytes);
  const base = {
    format: 'opal-attribution-index' as const,
    formatVersion: 1 as const,
    tokenizerId: tokenizer.id,
    vocabulary: { file: 'vocabulary.txt', sha256: createHash('sha256').update(vocabBytes).digest('hex'), words: vocabulary.size - 1 },
    shards,
    tokens: totalTokens,
    documents: totalDocs,
  };
  const manifest: IndexManifest = { ...base, indexHash: computeIndexHash(base) };
  writeFileSync(join(options.dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  progress(true);
  return manifest;
}

function documentIds(doc: IndexDocument, tokenizer: Tokenizer, vocabulary: Vocabulary): Uint32Array {
  if (doc.tokenIds) {
    const t = doc.tokenIds;
    // One unsigned comparison per token (0 wraps to the top): this loop runs over every token of
    // the corpus on the thread that feeds the shard workers.
    const last = vocabulary.size - 1;
    for (let i = 0; i < t.length; i++) if ((t[i]! - 1) >>> 0 >= last) throw new Error(`${doc.contributionId}: token id ${t[i]} is not in the vocabulary`);
    return t;
  }
  if (doc.text === undefined) throw new Error(`${doc.contributionId}: give text or tokenIds`);
  return vocabulary.idsOf(tokenizer.tokenize(doc.text).words, true);
}
