import type { IndexDocument } from '../build/build-index.js';

import { seededRandom } from '@opal/seeded-random';

export { seededRandom };

export type PlantedQuery = {
  readonly output: string;
  /** Contributions the output quotes (the originals, never the later copies). */
  readonly sources: readonly string[];
  /** Later copies of a quoted passage by another contributor: they must earn (almost) nothing. */
  readonly copies: readonly string[];
  /** The boilerplate sentence, present in the output and in many documents. */
  readonly boilerplate: string;
};

export type PlantedCorpus = { readonly documents: readonly IndexDocument[]; readonly queries: readonly PlantedQuery[] };

export type PlantedCorpusOptions = {
  readonly seed?: number;
  readonly documents?: number;
  readonly queries?: number;
  /** Sources quoted per output. */
  readonly sourcesPerQuery?: number;
};

/**
 * Documents of random words (Zipf-like over a synthetic vocabulary), a third of them carrying a
 * shared boilerplate sentence; some later documents by other contributors copy a passage of an
 * earlier one. Each output quotes passages of a few known documents, mixed with fresh words and the
 * boilerplate sentence.
 */
export function generatePlantedCorpus(o: PlantedCorpusOptions = {}): PlantedCorpus {
  const rnd = seededRandom(o.seed ?? 1);
  const nDocs = o.documents ?? 2000;
  const vocab = Array.from({ length: 20_000 }, (_, i) => `w${i.toString(36)}`);
  const word = () => vocab[Math.floor(vocab.length * rnd() ** 1.5)]!;
  const words = (n: number) => Array.from({ length: n }, word);
  const boilerplate = 'This contribution is released under the open data licence of the community, all rights reserved';
  const texts: string[] = [];
  const documents: IndexDocument[] = [];
  for (let d = 0; d < nDocs; d++) {
    const body = words(60 + Math.floor(rnd() * 200));
    const text = (rnd() < 0.33 ? boilerplate + '. ' : '') + body.join(' ');
    texts.push(text);
    documents.push({ contributionId: `c${d}`, contributor: `0xa${(d % 400).toString(16).padStart(3, '0')}`, orderKey: d, text });
  }
  const queries: PlantedQuery[] = [];
  const perQuery = o.sourcesPerQuery ?? 3;
  for (let k = 0; k < (o.queries ?? 40); k++) {
    const sources = new Set<number>();
    while (sources.size < perQuery) sources.add(Math.floor(rnd() * nDocs * 0.8));
    const parts: string[] = [words(5).join(' ')];
    const copies: string[] = [];
    [...sources].forEach((s, j) => {
      const body = texts[s]!.replace(boilerplate + '. ', '').split(' ');
      const from = Math.floor(rnd() * (body.length - 25));
      const passage = body.slice(from, from + 12 + Math.floor(rnd() * 12)).join(' ');
      parts.push(passage, words(4).join(' '));
      if (j === 0) {
        // A second contributor submits the same passage later, inside their own text.
        const id = `copy${k}`;
        const text = `${words(30).join(' ')} ${passage} ${words(30).join(' ')}`;
        documents.push({ contributionId: id, contributor: `0xb${k.toString(16).padStart(3, '0')}`, orderKey: nDocs + k, text });
        copies.push(id);
      }
    });
    parts.push(boilerplate, words(5).join(' '));
    queries.push({ output: parts.join(' ') + '.', sources: [...sources].map((s) => `c${s}`), copies, boilerplate });
  }
  return { documents, queries };
}
