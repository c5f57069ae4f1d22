import type { TokenizedText, Tokenizer } from './tokenizer.js';

// A word is a run of letters, marks and digits (apostrophes and hyphens inside a word are kept, so
// "don't" and "state-of-the-art" stay whole); everything else is a boundary. Punctuation is not a
// token: two outputs that differ only in commas or spacing must match the same spans.
const WORD = /[\p{L}\p{N}\p{M}]+(?:['’\-][\p{L}\p{N}\p{M}]+)*/gu;
const ASCII = /^[\x00-\x7f]*$/;

/** Normalised words: NFKC, lower-cased, Unicode aware. Id includes the rules' version. */
export const wordTokenizer: Tokenizer = {
  id: 'words-nfkc-lower/1',
  tokenize(text: string): TokenizedText {
    const words: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    WORD.lastIndex = 0;
    for (let m = WORD.exec(text); m !== null; m = WORD.exec(text)) {
      const w = m[0];
      // NFKC leaves ASCII as it is, and ASCII holds no ’: lower-casing is all such a word needs.
      words.push(ASCII.test(w) ? w.toLowerCase() : w.normalize('NFKC').toLowerCase().replace(/’/g, "'"));
      starts.push(m.index);
      ends.push(m.index + m[0].length);
    }
    return { words, starts: Uint32Array.from(starts), ends: Uint32Array.from(ends) };
  },
};
