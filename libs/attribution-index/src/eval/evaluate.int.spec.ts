import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndex } from '../build/build-index.js';
import { AttributionIndex } from '../query/attribution-index.js';
import { attribute } from '../attribute/attribute.js';
import { generatePlantedCorpus } from './planted-corpus.js';
import { evaluate } from './evaluate.js';

describe('attribution evaluation on a planted corpus', () => {
  it('given outputs quoting known contributions, when attributed, then sources rank top, copies and boilerplate earn nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-eval-'));
    try {
      const corpus = generatePlantedCorpus({ seed: 42, documents: 1500, queries: 30 });
      // Small shards and real worker threads: the sharded path is what production runs.
      await buildIndex(corpus.documents, { dir, shardTokens: 100_000, workers: 2 });
      const index = AttributionIndex.open(dir);
      assert.ok(index.shards.length > 1);
      const r = evaluate(index, corpus.queries);
      assert.ok(r.precisionAt10 >= 0.95, `precision@10 ${r.precisionAt10}`);
      assert.ok(r.recallAt10 >= 0.95, `recall@10 ${r.recallAt10}`);
      assert.ok(r.copyCreditShare <= 0.01, `copy credit share ${r.copyCreditShare}`);
      assert.equal(r.boilerplateCreditShare, 0);
      const again = attribute(index, { output: corpus.queries[0]!.output });
      assert.deepEqual(again, attribute(index, { output: corpus.queries[0]!.output }));
      assert.equal(again.weights.reduce((s, w) => s + w.ppm, 0), 1_000_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
