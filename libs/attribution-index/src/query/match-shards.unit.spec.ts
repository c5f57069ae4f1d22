import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { documentTable } from '../build/document-table.js';
import { buildShardData } from '../build/shard-input.js';
import { seededRandom } from '../eval/planted-corpus.js';
import { sampleSuffixes } from './suffix-samples.js';
import { longestMatchInShard, matchShards } from './shard-search.js';

function shardOf(docs: number[][], k: number, shard: number) {
  const tokens: number[] = [];
  const starts: number[] = [];
  for (const d of docs) starts.push(tokens.length), tokens.push(...d, 0);
  return buildShardData({
    shard, tokenizerId: 't', alphabetSize: k + 1, tokens: Uint32Array.from(tokens),
    ...documentTable(docs.map((_, i) => ({ start: starts[i]!, orderKey: 0, contributionId: `d${i}`, contributor: 'a' })), tokens.length),
  });
}

describe('matchShards', () => {
  it('given several shards and outputs quoting them, when matched, then every position equals a brute-force scan and only the shards holding the longest match keep a range', () => {
    const rnd = seededRandom(17);
    for (const k of [4, 30, 2000]) {
      const docs = Array.from({ length: 90 }, () => Array.from({ length: 1 + Math.floor(rnd() * 60) }, () => 1 + Math.floor(rnd() * rnd() * k)));
      const parts = [docs.slice(0, 25), docs.slice(25, 70), docs.slice(70)];
      const shards = parts.map((p, s) => shardOf(p, k, s));
      for (let trial = 0; trial < 8; trial++) {
        const q = Uint32Array.from({ length: 1 + Math.floor(rnd() * 120) }, () => 1 + Math.floor(rnd() * rnd() * (k + 2)));
        const src = docs[Math.floor(rnd() * docs.length)]!;
        const from = Math.floor(rnd() * src.length);
        const quote = src.slice(from, from + Math.min(q.length, 1 + Math.floor(rnd() * 40)));
        q.set(quote, Math.floor(rnd() * (q.length - quote.length + 1)));
        const got = matchShards(shards, q);
        // Sampled second tokens (small strides, so these small shards have them) change nothing.
        const sampled = shards.map((x, si) => sampleSuffixes(x, 1 + si, 4));
        
        assert.deepEqual(matchShards(shards, q, sampled), got);
        const range = new Uint32Array(2);
        for (let i = 0; i < q.length; i++) {
          let best = 0;
          let count = 0;
          for (const d of docs) {
            for (let p = 0; p < d.length; p++) {
              let n = 0;
              while (i + n < q.length && p + n < d.length && d[p + n] === q[i + n]) n++;
              if (n > best) [best, count] = [n, 1];
              else if (n === best && n > 0) count++;
            }
          }
          assert.equal(got.length[i], best, `length at ${i}`);
          assert.equal(got.count[i], count, `count at ${i}`);
          shards.forEach((shard, s) => {
            const len = longestMatchInShard(shard, q, i, range);
            const [lo, hi] = [got.lo[i * shards.length + s]!, got.hi[i * shards.length + s]!];
            if (best > 0 && len === best) assert.deepEqual([lo, hi], [range[0], range[1]], `range at ${i} in shard ${s}`);
            else assert.deepEqual([lo, hi], [0, 0], `no range at ${i} in shard ${s}`);
          });
        }
      }
    }
  });
});
