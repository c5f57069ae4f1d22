/** Seeded synthetic text, so tests and benchmarks need no downloaded data. */
import { xorshift32 } from '@opal/seeded-random';

export const rng = xorshift32;

const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pa', 'qu', 'den', 'mar', 'tol', 'bri', 'sun', 'gal', 'fer', 'hop', 'lin'];

const MAX_WORDS = syllables.length + syllables.length ** 2 + syllables.length ** 3;

export function vocabulary(size: number, seed = 7): string[] {
  if (size > MAX_WORDS * 0.75) throw new Error(`vocabulary: at most ${Math.floor(MAX_WORDS * 0.75)} words, asked for ${size}`);
  const r = rng(seed);
  const words = new Set<string>();
  while (words.size < size) {
    const n = 1 + Math.floor(r() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += syllables[Math.floor(r() * syllables.length)];
    words.add(w);
  }
  return [...words];
}

/** A text of about `bytes` bytes of words drawn from `vocab`. */
export function text(r: () => number, vocab: readonly string[], bytes: number): string {
  const words: string[] = [];
  let len = 0;
  while (len < bytes - 12) {
    const w = vocab[Math.floor(r() * vocab.length)]!;
    words.push(w);
    len += w.length + 1;
  }
  return words.join(' ') + '.';
}

/** The same text with `changes` words replaced: a near duplicate. */
export function perturb(r: () => number, source: string, vocab: readonly string[], changes: number): string {
  const words = source.split(' ');
  for (let i = 0; i < changes; i++) words[Math.floor(r() * words.length)] = vocab[Math.floor(r() * vocab.length)]!;
  return words.join(' ');
}
