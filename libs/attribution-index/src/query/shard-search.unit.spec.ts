import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { documentTable } from '../build/document-table.js';
import { buildShardData } from '../build/shard-input.js';
import { seededRandom } from '../eval/planted-corpus.js';
import { sampleSuffixes } from './suffix-samples.js';
import { documentAt, longestMatchInShard } from './shard-search.js';

describe('longestMatchInShard', () => {
  it('given random documents, when matching every query position, then length and count equal a brute-force scan', () => {
    const rnd = seededRandom(5);
    for (const k of [3, 20, 500]) {
      const docs = Array.from({ length: 30 }, () => Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => 1 + Math.floor(rnd() * rnd() * k)));
      const tokens: number[] = [];
      const starts: number[] = [];
      for (const d of docs) starts.push(tokens.length), tokens.push(...d, 0);
      const shard = buildShardData({
        shard: 0, tokenizerId: 't', alphabetSize: k + 1, tokens: Uint32Array.from(tokens),
        ...documentTable(docs.map((_, i) => ({ start: starts[i]!, orderKey: 0, contributionId: `d${i}`, contributor: 'a' })), tokens.length),
      });
      const q = Uint32Array.from({ length: 60 }, () => 1 + Math.floor(rnd() * rnd() * (k + 2)));
      const range = new Uint32Array(2);
      const viaSamples = new Uint32Array(2);
      const sampled = [sampleSuffixes(shard, 1, 1), sampleSuffixes(shard, 3, 2), sampleSuffixes(shard, 8, 20)];
      for (let i = 0; i < q.length; i++) {
        let best = 0;
        let count = 0;
        for (let p = 0; p < tokens.length; p++) {
          let d = 0;
          while (i + d < q.length && tokens[p + d] === q[i + d]) d++;
          if (d > best) [best, count] = [d, 1];
          else if (d === best && d > 0) count++;
        }
        const len = longestMatchInShard(shard, q, i, range);
        assert.equal(len, best, `length at ${i}`);
        for (const samples of sampled) {
          assert.equal(longestMatchInShard(shard, q, i, viaSamples, samples), best, `length at ${i} with samples every ${samples.stride}`);
          if (best > 0) assert.deepEqual(viaSamples, range, `range at ${i} with samples every ${samples.stride}`);
        }
        if (best > 0) {
          assert.equal(range[1]! - range[0]!, count, `count at ${i}`);
          for (let r = range[0]!; r < range[1]!; r++) {
            const pos = shard.suffixArray[r]!;
            const doc = documentAt(shard, pos);
            assert.ok(pos >= starts[doc]! && pos + best < (starts[doc + 1] ?? tokens.length), 'match stays inside one document');
          }
        }
      }
    }
  });
});
