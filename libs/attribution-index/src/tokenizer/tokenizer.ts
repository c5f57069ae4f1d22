/**
 * A tokenizer turns output or contribution text into words and remembers where each word sits in
 * the original text, so spans found in token space map back to character offsets.
 */
export type TokenizedText = {
  /** Normalised words, in order. */
  readonly words: readonly string[];
  /** UTF-16 offset of each word's first character in the original text. */
  readonly starts: Uint32Array;
  /** UTF-16 offset just past each word's last character. */
  readonly ends: Uint32Array;
};

export type Tokenizer = {
  /** Stored in every index; an index is only ever queried with the tokenizer that built it. */
  readonly id: string;
  tokenize(text: string): TokenizedText;
};
