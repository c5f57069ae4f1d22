import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLoraAdapter, seededRandom, writeTinyModelSet } from '@opal/gguf';
import { AdapterResidency, LlamaCppEngine, type GenerateRequest } from '@opal/lora-runtime';
import { collect } from '@opal/lora-runtime/testing';
import type { BenchSuite } from './harness.js';

// Engine-level throughput with the project's tiny generated llama model (n_embd 64, 2 layers, F32).
// Options: --requests 32 --tokens 64 --concurrency 8 --adapters 1000 --gpu (auto-select CUDA etc.)
const num = (v: unknown, d: number) => (typeof v === 'string' && v !== '' ? Number(v) : d);
const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)]!;
};

/** Runs `reqs` with at most `concurrency` in flight; returns completion tokens and wall seconds. */
async function drive(res: AdapterResidency, reqs: GenerateRequest[], concurrency: number) {
  let next = 0;
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reqs.length) {
        const r = reqs[next++]!;
        // Not `tokens += await ...`: that reads `tokens` before the await, so the concurrent lanes
        // overwrite each other's counts and the rate comes out about `concurrency` times too low.
        const c = await collect(res.generate(r));
        tokens += c.done.usage.completionTokens;
      }
    }),
  );
  return { tokens, seconds: (performance.now() - t0) / 1000 };
}

export const run: BenchSuite = async (ctx) => {
  const requests = num(ctx.options.requests, 32);
  const tokens = num(ctx.options.tokens, 64);
  const concurrency = num(ctx.options.concurrency, 8);
  const nAdapters = num(ctx.options.adapters, 1000);
  const dir = mkdtempSync(join(tmpdir(), 'opal-bench-inference-'));
  const engine = new LlamaCppEngine({ threads: 1, slotsPerAdapter: concurrency, gpu: ctx.options.gpu ? 'auto' : false });
  try {
    ctx.progress('generating the tiny base model and 8 adapters');
    const set = await writeTinyModelSet(dir, { adapters: 8 });
    const backend = (await engine.backend()) || 'cpu';
    await engine.loadBaseModel({ id: 'tiny', path: set.base.path });
    const params = { backend, concurrency, requests, tokens, model: 'tiny-llama-64x2-f32', threads: 1 };

    const res = new AdapterResidency({ engine, maxResidentPerBase: 8, maxHostAdapters: 32, stagingDir: join(dir, 'staged') });
    set.adapterPaths.forEach((path, i) => res.register({ id: `m${i}`, baseModelId: 'tiny', path, contentHash: undefined }));
    const req = (adapterId: string, i: number): GenerateRequest => ({ baseModelId: 'tiny', adapterId, prompt: `hello world, the data ${i}`, maxTokens: tokens, ...(ctx.options.greedy ? {} : { temperature: 0.8, seed: i }) });
    // Warm every adapter first: this compares steady-state decoding, not loads.
    await drive(res, set.adapterPaths.map((_, i) => ({ ...req(`m${i}`, i), maxTokens: 4 })), 8);

    // One unmeasured round of each pattern: the first full batch on a context is slower (graph and KV
    // allocation), and measuring it only for the single-adapter run would skew mix_ratio upwards.
    await drive(res, Array.from({ length: concurrency }, (_, i) => req('m0', i)), concurrency);
    await drive(res, Array.from({ length: concurrency }, (_, i) => req(`m${i % 8}`, i)), concurrency);
    ctx.progress('single adapter vs 8-adapter mix');
    const single = await drive(res, Array.from({ length: requests }, (_, i) => req('m0', i)), concurrency);
    const mixed = await drive(res, Array.from({ length: requests }, (_, i) => req(`m${i % 8}`, i)), concurrency);
    const singleRate = single.tokens / single.seconds;
    const mixedRate = mixed.tokens / mixed.seconds;
    ctx.report({ metric: 'single_adapter_tokens_per_s', value: singleRate, unit: 'tokens/s', params });
    ctx.report({ metric: 'mixed_adapters_tokens_per_s', value: mixedRate, unit: 'tokens/s', params: { ...params, adapters: 8 } });
    ctx.report({ metric: 'mix_ratio', value: mixedRate / singleRate, unit: 'ratio', params: { target: 0.75 } });

    ctx.progress('warm switches between resident adapters');
    const switches: number[] = [];
    for (let i = 0; i < 64; i++) {
      const t0 = performance.now();
      const c = await collect(res.generate({ ...req(`m${i % 8}`, i), maxTokens: 1 }));
      if (c.done.usage.completionTokens !== 1) throw new Error('warm switch produced no token');
      switches.push(performance.now() - t0);
    }
    ctx.report({ metric: 'warm_switch_p95_ms', value: p95(switches), unit: 'ms', params: { ...params, measures: 'request for another resident adapter, to its first token', samples: switches.length } });

    ctx.progress(`generating ${nAdapters} adapters`);
    for (let i = 0; i < nAdapters; i++) {
      const path = join(dir, `many-${i}.gguf`);
      await writeFile(path, generateLoraAdapter(set.base, { seed: 5000 + i, rank: 8 }));
      res.register({ id: `x${i}`, baseModelId: 'tiny', path });
    }

    ctx.progress('cold loads (disk -> host -> engine)');
    const cold: number[] = [];
    for (let i = 0; i < 40; i++) {
      const lease = await res.acquire(`x${900 + i}`);
      cold.push(lease!.loadMs);
      lease!.release();
    }
    ctx.report({ metric: 'cold_load_p95_ms', value: p95(cold), unit: 'ms', params: { ...params, samples: cold.length, includes: 'read+sha256+stage+context with LoRA, evicting LRU' } });

    ctx.progress(`requests over ${nAdapters} registered adapters, 8 resident (zipf 1.1)`);
    const rand = seededRandom(7);
    const weights = Array.from({ length: nAdapters }, (_, i) => 1 / Math.pow(i + 1, 1.1));
    const total = weights.reduce((a, b) => a + b, 0);
    const pick = () => {
      let r = rand() * total;
      for (let i = 0; i < nAdapters; i++) if ((r -= weights[i]!) <= 0) return i;
      return nAdapters - 1;
    };
    const manyRequests = 200;
    const before = res.stats();
    const many = await drive(res, Array.from({ length: manyRequests }, (_, i) => ({ ...req(`x${pick()}`, i), maxTokens: 16 })), concurrency);
    const after = res.stats();
    ctx.report({
      metric: 'requests_per_s_1000_adapters',
      value: manyRequests / many.seconds,
      unit: 'requests/s',
      params: { ...params, tokens: 16, registered: res.registered, resident_cap: 8, distribution: 'zipf-1.1', cold_loads: after.coldLoads - before.coldLoads, requests: manyRequests },
    });
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
};
