import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateLoraAdapter, generateTinyLlama, type LoraAdapterOptions, type TinyLlamaOptions } from './tiny-llama.generator.js';
import { validateBaseModel, type BaseModelInfo } from './model-validation.js';

export type TinyModelSet = {
  readonly base: BaseModelInfo;
  readonly adapterPaths: readonly string[];
};

/** Writes a tiny base model and `adapters` LoRA adapters (seeds 1..n) into `dir`: the test fixture. */
export async function writeTinyModelSet(
  dir: string,
  opts: { adapters?: number; base?: TinyLlamaOptions; adapter?: LoraAdapterOptions } = {},
): Promise<TinyModelSet> {
  await mkdir(dir, { recursive: true });
  const basePath = join(dir, 'base.gguf');
  await writeFile(basePath, generateTinyLlama(opts.base));
  const base = await validateBaseModel(basePath);
  const adapterPaths: string[] = [];
  for (let i = 1; i <= (opts.adapters ?? 0); i++) {
    const p = join(dir, `adapter-${i}.gguf`);
    await writeFile(p, generateLoraAdapter(base, { ...opts.adapter, seed: (opts.adapter?.seed ?? 0) * 1000 + i, name: `adapter-${i}` }));
    adapterPaths.push(p);
  }
  return { base, adapterPaths };
}
