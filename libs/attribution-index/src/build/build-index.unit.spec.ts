import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vocabulary } from '../tokenizer/vocabulary.js';
import { buildIndex } from './build-index.js';

const vocabulary = Vocabulary.fromWords(['a', 'b', 'c']); // ids 1..3

async function build(tokenIds: number[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'opal-build-'));
  try {
    await buildIndex([{ contributionId: 'c1', contributor: '0x1', orderKey: 1, tokenIds: Uint32Array.from(tokenIds) }], { dir, vocabulary, workers: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('buildIndex token ids', () => {
  it('given ids inside the vocabulary, when built, then it succeeds', async () => {
    await build([1, 2, 3, 1]);
  });

  it('given the separator 0 or an id past the vocabulary, when built, then the document is named', async () => {
    await assert.rejects(build([1, 0, 2]), /c1: token id 0 is not in the vocabulary/);
    await assert.rejects(build([1, 4]), /c1: token id 4 is not in the vocabulary/);
    await assert.rejects(build([0xffffffff]), /c1: token id 4294967295 is not in the vocabulary/);
  });
});

describe('buildIndex on worker threads', () => {
  it("given a shard file that cannot be written, when built, then the error keeps the system's code (ENOSPC and the like are told from bad input by it)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-build-'));
    try {
      mkdirSync(join(dir, 'shard-0000.opx')); // a folder where the shard file goes: EISDIR
      const built = buildIndex([{ contributionId: 'c1', contributor: '0x1', orderKey: 1, tokenIds: Uint32Array.from([1, 2, 3]) }], { dir, vocabulary, workers: 1 });
      await assert.rejects(built, (e: Error & { code?: string }) => e.code === 'EISDIR' && /shard 0: .*EISDIR/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
