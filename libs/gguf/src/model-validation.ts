import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { GgufError } from './gguf.errors.js';
import { readGgufHeader } from './gguf.reader.js';
import type { GgufFile, GgufValue } from './gguf.types.js';

export type BaseModelInfo = {
  readonly path: string;
  readonly architecture: string;
  /** sha256 of the whole file, hex. */
  readonly contentHash: string;
  readonly fileSize: number;
  readonly contextLength: number;
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly vocabSize: number;
  readonly tensorShapes: ReadonlyMap<string, readonly number[]>;
};

export type AdapterInfo = {
  readonly path: string;
  readonly architecture: string;
  readonly contentHash: string;
  readonly fileSize: number;
  readonly rank: number;
  readonly alpha: number;
  /** Base tensors the adapter modifies. */
  readonly targets: readonly string[];
};

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function str(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'string') throw new GgufError('MALFORMED', key, `expected a string, found ${v.type}`);
  return v.value;
}

function requiredInt(file: GgufFile, key: string): number {
  const v: GgufValue | undefined = file.metadata.get(key);
  if (v === undefined) throw new GgufError('MISSING_FIELD', key, 'required by a base model');
  if (v.type === 'u32' || v.type === 'i32' || v.type === 'u16' || v.type === 'u8') return v.value;
  if (v.type === 'u64' || v.type === 'i64') return Number(v.value);
  throw new GgufError('MALFORMED', key, `expected an integer, found ${v.type}`);
}

/** Checks that a file is a GGUF base model llama.cpp can serve and returns what registration records. */
export async function validateBaseModel(path: string): Promise<BaseModelInfo> {
  const file = await readGgufHeader(path);
  const architecture = str(file, 'general.architecture');
  if (!architecture) throw new GgufError('MISSING_FIELD', 'general.architecture', 'required by a base model');
  const type = str(file, 'general.type');
  if (type !== undefined && type !== 'model') throw new GgufError('NOT_A_BASE_MODEL', 'general.type', `is "${type}", expected "model"`);
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  if (!tokens) throw new GgufError('MISSING_FIELD', 'tokenizer.ggml.tokens', 'required by a base model');
  if (tokens.type !== 'array' || tokens.itemType !== 'string') throw new GgufError('MALFORMED', 'tokenizer.ggml.tokens', 'expected an array of strings');
  const tensorShapes = new Map(file.tensors.map((t) => [t.name, t.dims] as const));
  if (!tensorShapes.has('token_embd.weight')) throw new GgufError('MISSING_FIELD', 'token_embd.weight', 'base model has no token embedding tensor');
  return {
    path,
    architecture,
    contentHash: await sha256File(path),
    fileSize: file.fileSize,
    contextLength: requiredInt(file, `${architecture}.context_length`),
    embeddingLength: requiredInt(file, `${architecture}.embedding_length`),
    blockCount: requiredInt(file, `${architecture}.block_count`),
    vocabSize: tokens.value.length,
    tensorShapes,
  };
}

/** Checks that a file is a LoRA adapter for the given base (type, architecture, every tensor's shape). */
export async function validateAdapter(
  path: string,
  base: Pick<BaseModelInfo, 'architecture' | 'tensorShapes'>,
): Promise<AdapterInfo> {
  const file = await readGgufHeader(path);
  const type = str(file, 'general.type');
  if (type !== 'adapter') throw new GgufError('NOT_AN_ADAPTER', 'general.type', `is ${type === undefined ? 'missing' : `"${type}"`}, expected "adapter"`);
  const adapterType = str(file, 'adapter.type');
  if (adapterType !== 'lora') throw new GgufError('UNSUPPORTED_ADAPTER_TYPE', 'adapter.type', `is ${adapterType === undefined ? 'missing' : `"${adapterType}"`}, expected "lora"`);
  const architecture = str(file, 'general.architecture');
  if (architecture !== base.architecture) {
    throw new GgufError('ARCHITECTURE_MISMATCH', 'general.architecture', `adapter is for "${architecture ?? 'missing'}", base is "${base.architecture}"`);
  }
  const alphaV = file.metadata.get('adapter.lora.alpha');
  if (!alphaV) throw new GgufError('MISSING_FIELD', 'adapter.lora.alpha', 'required by a LoRA adapter');
  if (alphaV.type !== 'f32' && alphaV.type !== 'f64' && alphaV.type !== 'u32' && alphaV.type !== 'i32') {
    throw new GgufError('MALFORMED', 'adapter.lora.alpha', `expected a number, found ${alphaV.type}`);
  }
  const alpha = alphaV.value;
  if (!Number.isFinite(alpha)) throw new GgufError('MALFORMED', 'adapter.lora.alpha', `is ${alpha}`);

  const byName = new Map(file.tensors.map((t) => [t.name, t.dims] as const));
  const targets: string[] = [];
  let rank = 0;
  for (const t of file.tensors) {
    const m = /^(.+)\.lora_([ab])$/.exec(t.name);
    if (!m) throw new GgufError('MALFORMED', t.name, 'is not a LoRA factor (expected a name ending .lora_a or .lora_b)');
    const [, target, side] = m as unknown as [string, string, 'a' | 'b'];
    const other = byName.get(`${target}.lora_${side === 'a' ? 'b' : 'a'}`);
    if (!other) throw new GgufError('MALFORMED', t.name, `has no matching .lora_${side === 'a' ? 'b' : 'a'}`);
    if (side === 'b') continue;
    const baseDims = base.tensorShapes.get(target);
    if (!baseDims) throw new GgufError('SHAPE_MISMATCH', t.name, `base model has no tensor ${target}`);
    if (baseDims.length !== 2) throw new GgufError('SHAPE_MISMATCH', t.name, `base tensor ${target} is not 2-D`);
    const [nIn, nOut] = baseDims as [number, number];
    const a = t.dims;
    const b = other;
    const r = target === 'token_embd.weight' ? a[0]! : a[1]!;
    const wantA = target === 'token_embd.weight' ? [r, nOut] : [nIn, r];
    const wantB = target === 'token_embd.weight' ? [r, nIn] : [r, nOut];
    const same = (x: readonly number[], y: readonly number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
    if (!same(a, wantA)) throw new GgufError('SHAPE_MISMATCH', t.name, `shape [${a.join(', ')}], base ${target} [${baseDims.join(', ')}] needs [${wantA.join(', ')}]`);
    if (!same(b, wantB)) throw new GgufError('SHAPE_MISMATCH', `${target}.lora_b`, `shape [${b.join(', ')}], base ${target} [${baseDims.join(', ')}] needs [${wantB.join(', ')}]`);
    rank = Math.max(rank, r);
    targets.push(target);
  }
  if (targets.length === 0) throw new GgufError('NOT_AN_ADAPTER', 'tensors', 'adapter has no LoRA tensors');
  return { path, architecture: architecture, contentHash: await sha256File(path), fileSize: file.fileSize, rank, alpha, targets };
}
