import type { LlamaModel } from 'node-llama-cpp';
import { resolve } from 'node:path';

type LoraHandle = { dispose(): Promise<void>; disposed?: boolean };

/**
 * node-llama-cpp 3.21.1 keeps every LoRA it ever loaded on the model (keyed by resolved path) until the
 * model is disposed, so 1,000 adapters cycling through would all stay in memory. After the only context
 * using an adapter is disposed we free it through the model's internal map. Pinned to 3.21.1: if the
 * internals change this silently does nothing, and memory grows again (the residency cap still holds
 * contexts, not weights).
 */
export async function releaseLoraWeights(model: LlamaModel, filePath: string): Promise<boolean> {
  const map = (model as unknown as { _loraAdapters?: Map<string, LoraHandle> })._loraAdapters;
  if (!(map instanceof Map)) return false;
  const p = resolve(process.cwd(), filePath);
  const lora = map.get(p);
  if (!lora || typeof lora.dispose !== 'function') return false;
  map.delete(p);
  await lora.dispose();
  return true;
}
