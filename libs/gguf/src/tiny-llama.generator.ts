import { gv, writeGguf, type GgufTensorInput } from './gguf.writer.js';
import { GGML_F32, type GgufValue } from './gguf.types.js';
import { gaussianFill, seededRandom } from './seeded-random.js';

export type TinyLlamaOptions = {
  readonly seed?: number;
  readonly embeddingLength?: number;
  readonly blockCount?: number;
  readonly feedForwardLength?: number;
  readonly headCount?: number;
  readonly contextLength?: number;
  readonly name?: string;
};

const WORDS = [
  'the', 'of', 'and', 'to', 'in', 'is', 'that', 'it', 'for', 'on', 'with', 'as', 'was', 'data', 'model', 'token',
  'hello', 'world', 'open', 'ledger', 'proof', 'attribution', 'adapter', 'base', 'fee', 'reward', 'chain', 'block',
  'a', 'an', 'be', 'by', 'we', 'you', 'they', 'this', 'from', 'are', 'not', 'or', 'have', 'one', 'all', 'new',
];

/**
 * The byte-level vocabulary llama.cpp accepts: <unk>, <s>, </s>, the 256 byte tokens, then normal
 * pieces. Every prefix of each "▁word" is a piece too, otherwise SPM cannot reach the word.
 */
export function tinyVocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const pieces = new Set<string>(['▁']);
  for (let c = 0x21; c < 0x7f; c++) pieces.add(String.fromCharCode(c));
  for (const w of WORDS) {
    const full = `▁${w}`;
    for (let i = 2; i <= full.length; i++) pieces.add(full.slice(0, i));
    for (let i = 2; i <= w.length; i++) pieces.add(w.slice(0, i));
  }
  for (const p of pieces) {
    tokens.push(p);
    types.push(1);
  }
  // SPM merges toward higher scores: longer pieces win.
  const scores = tokens.map((t, i) => (types[i] === 1 ? [...t].length : -1000 - i));
  return { tokens, scores, types };
}

/** Generates a tiny random-weight llama-architecture GGUF (F32) that llama.cpp loads. */
export function generateTinyLlama(opts: TinyLlamaOptions = {}): Buffer {
  const nEmbd = opts.embeddingLength ?? 64;
  const nLayer = opts.blockCount ?? 2;
  const nFf = opts.feedForwardLength ?? 128;
  const nHead = opts.headCount ?? 4;
  const nCtx = opts.contextLength ?? 512;
  const rand = seededRandom(opts.seed ?? 1);
  const vocab = tinyVocabulary();
  const nVocab = vocab.tokens.length;

  const metadata: [string, GgufValue][] = [
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str(opts.name ?? 'opal-tiny-llama')],
    ['general.alignment', gv.u32(32)],
    ['llama.context_length', gv.u32(nCtx)],
    ['llama.embedding_length', gv.u32(nEmbd)],
    ['llama.block_count', gv.u32(nLayer)],
    ['llama.feed_forward_length', gv.u32(nFf)],
    ['llama.attention.head_count', gv.u32(nHead)],
    ['llama.attention.head_count_kv', gv.u32(nHead)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
    ['llama.rope.dimension_count', gv.u32(nEmbd / nHead)],
    ['llama.rope.freq_base', gv.f32(10000)],
    ['llama.vocab_size', gv.u32(nVocab)],
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.pre', gv.str('default')],
    ['tokenizer.ggml.tokens', gv.arr('string', vocab.tokens)],
    ['tokenizer.ggml.scores', gv.arr('f32', vocab.scores)],
    ['tokenizer.ggml.token_type', gv.arr('i32', vocab.types)],
    ['tokenizer.ggml.unknown_token_id', gv.u32(0)],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.eos_token_id', gv.u32(2)],
    ['tokenizer.ggml.add_bos_token', gv.bool(true)],
  ];

  const tensors: GgufTensorInput[] = [];
  const add = (name: string, dims: number[], fill: (a: Float32Array) => void) => {
    const a = new Float32Array(dims.reduce((x, y) => x * y, 1));
    fill(a);
    tensors.push({ name, dims, type: GGML_F32, data: new Uint8Array(a.buffer) });
  };
  const normal = (std: number) => (a: Float32Array) => void gaussianFill(a, std, rand);
  const ones = (a: Float32Array) => void a.fill(1);

  add('token_embd.weight', [nEmbd, nVocab], normal(1.0));
  for (let i = 0; i < nLayer; i++) {
    add(`blk.${i}.attn_norm.weight`, [nEmbd], ones);
    add(`blk.${i}.attn_q.weight`, [nEmbd, nEmbd], normal(0.1));
    add(`blk.${i}.attn_k.weight`, [nEmbd, nEmbd], normal(0.1));
    add(`blk.${i}.attn_v.weight`, [nEmbd, nEmbd], normal(0.1));
    add(`blk.${i}.attn_output.weight`, [nEmbd, nEmbd], normal(0.1));
    add(`blk.${i}.ffn_norm.weight`, [nEmbd], ones);
    add(`blk.${i}.ffn_gate.weight`, [nEmbd, nFf], normal(0.1));
    add(`blk.${i}.ffn_up.weight`, [nEmbd, nFf], normal(0.1));
    add(`blk.${i}.ffn_down.weight`, [nFf, nEmbd], normal(0.1));
  }
  add('output_norm.weight', [nEmbd], ones);
  add('output.weight', [nEmbd, nVocab], normal(0.1));
  return writeGguf({ metadata, tensors });
}

export type LoraAdapterOptions = {
  readonly seed?: number;
  readonly rank?: number;
  readonly alpha?: number;
  /** Base tensor names to adapt; defaults to every attention and feed-forward weight. */
  readonly targets?: readonly string[];
  /** Standard deviation of the A and B factors. */
  readonly std?: number;
  readonly name?: string;
  /** Overrides for tests that need a broken adapter. */
  readonly architecture?: string;
};

/** Generates a LoRA adapter GGUF for a base whose tensor shapes are given (ggml order). */
export function generateLoraAdapter(
  base: { readonly architecture: string; readonly tensorShapes: ReadonlyMap<string, readonly number[]> },
  opts: LoraAdapterOptions = {},
): Buffer {
  const rank = opts.rank ?? 8;
  const alpha = opts.alpha ?? rank;
  const std = opts.std ?? 0.2;
  const rand = seededRandom(opts.seed ?? 1);
  const targets =
    opts.targets ?? [...base.tensorShapes.keys()].filter((n) => /^blk\.\d+\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(n));
  const tensors: GgufTensorInput[] = [];
  for (const name of targets) {
    const dims = base.tensorShapes.get(name);
    if (!dims || dims.length !== 2) throw new Error(`base has no 2-D tensor ${name}`);
    const [nIn, nOut] = dims as [number, number];
    // llama.cpp's one exception: the embedding's factors are transposed.
    const aDims = name === 'token_embd.weight' ? [rank, nOut] : [nIn, rank];
    const bDims = name === 'token_embd.weight' ? [rank, nIn] : [rank, nOut];
    for (const [suffix, d] of [['lora_a', aDims], ['lora_b', bDims]] as const) {
      const a = gaussianFill(new Float32Array(d[0]! * d[1]!), std, rand);
      tensors.push({ name: `${name}.${suffix}`, dims: d, type: GGML_F32, data: new Uint8Array(a.buffer) });
    }
  }
  return writeGguf({
    metadata: [
      ['general.architecture', gv.str(opts.architecture ?? base.architecture)],
      ['general.type', gv.str('adapter')],
      ['general.name', gv.str(opts.name ?? 'opal-tiny-lora')],
      ['adapter.type', gv.str('lora')],
      ['adapter.lora.alpha', gv.f32(alpha)],
    ],
    tensors,
  });
}
