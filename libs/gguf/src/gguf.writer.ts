import { GgufError } from './gguf.errors.js';
import {
  GGML_TYPES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPE, GGUF_VERSION,
  type GgufArrayValue, type GgufScalarType, type GgufValue,
} from './gguf.types.js';

export type GgufTensorInput = {
  readonly name: string;
  /** ggml order (numpy shape reversed). */
  readonly dims: readonly number[];
  readonly type: number;
  readonly data: Uint8Array;
};

export type GgufWriteInput = {
  readonly metadata: Iterable<readonly [string, GgufValue]>;
  readonly tensors: readonly GgufTensorInput[];
};

/** Small constructors so metadata reads like the GGUF it becomes. */
export const gv = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  u64: (value: bigint): GgufValue => ({ type: 'u64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  arr: (itemType: GgufScalarType, value: readonly (number | bigint | boolean | string)[]): GgufValue => ({ type: 'array', itemType, value }),
};

class Sink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  pad(alignment: number): void {
    const r = this.length % alignment;
    if (r !== 0) this.push(Buffer.alloc(alignment - r));
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    if (type === 'string') return this.string(v as string);
    const b = Buffer.allocUnsafe(type === 'u64' || type === 'i64' || type === 'f64' ? 8 : type === 'u32' || type === 'i32' || type === 'f32' ? 4 : type === 'u16' || type === 'i16' ? 2 : 1);
    switch (type) {
      case 'u8': b.writeUInt8(v as number); break;
      case 'i8': b.writeInt8(v as number); break;
      case 'u16': b.writeUInt16LE(v as number); break;
      case 'i16': b.writeInt16LE(v as number); break;
      case 'u32': b.writeUInt32LE(v as number); break;
      case 'i32': b.writeInt32LE(v as number); break;
      case 'f32': b.writeFloatLE(v as number); break;
      case 'f64': b.writeDoubleLE(v as number); break;
      case 'u64': b.writeBigUInt64LE(BigInt(v as bigint)); break;
      case 'i64': b.writeBigInt64LE(BigInt(v as bigint)); break;
      case 'bool': b.writeUInt8(v ? 1 : 0); break;
      default: {
        const never: never = type;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
    this.push(b);
  }
  array(a: GgufArrayValue): void {
    this.u32(GGUF_VALUE_TYPE[a.itemType]);
    this.u64(a.value.length);
    for (const item of a.value) {
      if (a.itemType === 'array') this.array(item as GgufArrayValue);
      else this.scalar(a.itemType, item as number | bigint | boolean | string);
    }
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** Serialises a GGUF v3 file: header, metadata, tensor infos, then aligned tensor data. */
export function writeGguf(input: GgufWriteInput): Buffer {
  const metadata = [...input.metadata];
  const al = metadata.find(([k]) => k === 'general.alignment')?.[1];
  const alignment = al?.type === 'u32' ? al.value : GGUF_DEFAULT_ALIGNMENT;
  const s = new Sink();
  s.u32(GGUF_MAGIC);
  s.u32(GGUF_VERSION);
  s.u64(input.tensors.length);
  s.u64(metadata.length);
  for (const [key, v] of metadata) {
    s.string(key);
    s.u32(GGUF_VALUE_TYPE[v.type]);
    if (v.type === 'array') s.array(v);
    else s.scalar(v.type, v.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of input.tensors) {
    const gt = GGML_TYPES[t.type];
    if (!gt) throw new GgufError('MALFORMED', t.name, `unknown ggml type ${t.type}`);
    const expected = (t.dims.reduce((a, b) => a * b, 1) / gt.blockSize) * gt.blockBytes;
    if (expected !== t.data.byteLength) throw new GgufError('SHAPE_MISMATCH', t.name, `data has ${t.data.byteLength} bytes, dims need ${expected}`);
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.type);
    s.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(t.data.byteLength / alignment) * alignment;
  }
  s.pad(alignment);
  for (const t of input.tensors) {
    s.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    s.pad(alignment);
  }
  return s.concat();
}
