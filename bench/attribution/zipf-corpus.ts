import type { IndexDocument } from '@opal/attribution-index';

import { xorshift32 } from '@opal/seeded-random';

export const xorshift = xorshift32;

/** Walker's alias table for Zipf(s = 1) over ids 1..vocab: O(1) per sample. */
export function zipfSampler(vocab: number, rnd: () => number): () => number {
  const p = new Float64Array(vocab);
  let h = 0;
  for (let i = 0; i < vocab; i++) h += p[i] = 1 / (i + 1);
  const prob = new Float64Array(vocab);
  const alias = new Uint32Array(vocab);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < vocab; i++) {
    prob[i] = (p[i]! / h) * vocab;
    (prob[i]! < 1 ? small : large).push(i);
  }
  while (small.length && large.length) {
    const s = small.pop()!;
    const l = large.pop()!;
    alias[s] = l;
    prob[l] = prob[l]! + prob[s]! - 1;
    (prob[l]! < 1 ? small : large).push(l);
  }
  for (const i of [...small, ...large]) prob[i] = 1;
  return () => {
    const u = rnd() * vocab;
    const i = Math.floor(u);
    return 1 + (u - i < prob[i]! ? i : alias[i]!);
  };
}

/**
 * Documents of 50-500 Zipf tokens until `tokens` are produced. The token buffer is reused from one
 * document to the next (the builder copies each document into its shard before asking for more).
 */
export function* zipfDocuments(tokens: number, vocab: number, seed: number): Generator<IndexDocument> {
  const rnd = xorshift(seed);
  const sample = zipfSampler(vocab, rnd);
  const scratch = new Uint32Array(500);
  let produced = 0;
  for (let d = 0; produced < tokens; d++) {
    const len = Math.min(tokens - produced, 50 + Math.floor(rnd() * 451));
    for (let i = 0; i < len; i++) scratch[i] = sample();
    produced += len;
    yield { ...zipfDocumentMeta(d), tokenIds: scratch.subarray(0, len) };
  }
}

/** Document d's id, contributor (one of 10,000) and order key. */
export function zipfDocumentMeta(d: number): { contributionId: string; contributor: string; orderKey: number } {
  return { contributionId: `d${d}`, contributor: `0x${(d % 10_000).toString(16).padStart(40, '0')}`, orderKey: d };
}
