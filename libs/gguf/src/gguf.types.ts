/** Metadata value types as numbered by the GGUF format. */
export const GGUF_VALUE_TYPE = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;

export type GgufScalarValue =
  | { readonly type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; readonly value: number }
  | { readonly type: 'u64' | 'i64'; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string };

export type GgufArrayValue = {
  readonly type: 'array';
  readonly itemType: GgufScalarType | 'array';
  readonly value: readonly (number | bigint | boolean | string | GgufArrayValue)[];
};

export type GgufValue = GgufScalarValue | GgufArrayValue;

/** ggml tensor types: id, bytes per block and elements per block (needed to bound tensor data). */
export const GGML_TYPES: Readonly<Record<number, { readonly name: string; readonly blockBytes: number; readonly blockSize: number }>> = {
  0: { name: 'F32', blockBytes: 4, blockSize: 1 },
  1: { name: 'F16', blockBytes: 2, blockSize: 1 },
  2: { name: 'Q4_0', blockBytes: 18, blockSize: 32 },
  3: { name: 'Q4_1', blockBytes: 20, blockSize: 32 },
  6: { name: 'Q5_0', blockBytes: 22, blockSize: 32 },
  7: { name: 'Q5_1', blockBytes: 24, blockSize: 32 },
  8: { name: 'Q8_0', blockBytes: 34, blockSize: 32 },
  9: { name: 'Q8_1', blockBytes: 36, blockSize: 32 },
  10: { name: 'Q2_K', blockBytes: 84, blockSize: 256 },
  11: { name: 'Q3_K', blockBytes: 110, blockSize: 256 },
  12: { name: 'Q4_K', blockBytes: 144, blockSize: 256 },
  13: { name: 'Q5_K', blockBytes: 176, blockSize: 256 },
  14: { name: 'Q6_K', blockBytes: 210, blockSize: 256 },
  15: { name: 'Q8_K', blockBytes: 292, blockSize: 256 },
  16: { name: 'IQ2_XXS', blockBytes: 66, blockSize: 256 },
  17: { name: 'IQ2_XS', blockBytes: 74, blockSize: 256 },
  18: { name: 'IQ3_XXS', blockBytes: 98, blockSize: 256 },
  19: { name: 'IQ1_S', blockBytes: 50, blockSize: 256 },
  20: { name: 'IQ4_NL', blockBytes: 18, blockSize: 32 },
  21: { name: 'IQ3_S', blockBytes: 110, blockSize: 256 },
  22: { name: 'IQ2_S', blockBytes: 82, blockSize: 256 },
  23: { name: 'IQ4_XS', blockBytes: 136, blockSize: 256 },
  24: { name: 'I8', blockBytes: 1, blockSize: 1 },
  25: { name: 'I16', blockBytes: 2, blockSize: 1 },
  26: { name: 'I32', blockBytes: 4, blockSize: 1 },
  27: { name: 'I64', blockBytes: 8, blockSize: 1 },
  28: { name: 'F64', blockBytes: 8, blockSize: 1 },
  29: { name: 'IQ1_M', blockBytes: 56, blockSize: 256 },
  30: { name: 'BF16', blockBytes: 2, blockSize: 1 },
  34: { name: 'TQ1_0', blockBytes: 54, blockSize: 256 },
  35: { name: 'TQ2_0', blockBytes: 66, blockSize: 256 },
  39: { name: 'MXFP4', blockBytes: 17, blockSize: 32 },
};

export const GGML_F32 = 0;

export type GgufTensorInfo = {
  readonly name: string;
  /** ggml order: dims[0] is the fastest-moving (row length). */
  readonly dims: readonly number[];
  readonly type: number;
  /** Offset relative to the start of the tensor data section. */
  readonly offset: number;
  readonly byteLength: number;
};

export type GgufFile = {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute file offset where tensor data begins. */
  readonly dataOffset: number;
  readonly fileSize: number;
};

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
