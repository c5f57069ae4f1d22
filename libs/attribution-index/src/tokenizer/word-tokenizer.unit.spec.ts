import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wordTokenizer } from './word-tokenizer.js';

describe('wordTokenizer', () => {
  it('given mixed case, spacing and punctuation, when tokenized, then words are normalised and keep their offsets', () => {
    const text = '  Hello,   WORLD!\tÉcole don’t state-of-the-art ２０２４';
    const t = wordTokenizer.tokenize(text);
    assert.deepEqual(t.words, ['hello', 'world', 'école', "don't", 'state-of-the-art', '2024']);
    assert.equal(text.slice(t.starts[1], t.ends[1]), 'WORLD');
    assert.equal(text.slice(t.starts[3], t.ends[3]), 'don’t');
  });
});
