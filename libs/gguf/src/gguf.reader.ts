import { open } from 'node:fs/promises';
import { GgufError } from './gguf.errors.js';
import {
  GGML_TYPES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION,
  type GgufArrayValue, type GgufFile, type GgufScalarType, type GgufTensorInfo, type GgufValue,
} from './gguf.types.js';

const SCALAR_BY_ID: readonly (GgufScalarType | 'array')[] = [
  'u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64',
];
const SCALAR_SIZE: Partial<Record<GgufScalarType, number>> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8,
};
const MAX_DIMS = 4;
const MAX_ARRAY_DEPTH = 4;

/** Thrown when the header runs past the bytes read so far but the file holds more. */
class NeedMoreBytes extends Error {}

class Cursor {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly fileSize: number,
  ) {}
  need(n: number, field: string): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.buf.length < this.fileSize) throw new NeedMoreBytes();
    throw new GgufError('TRUNCATED', field, `needs ${n} byte(s) at offset ${this.pos}, file has ${this.fileSize}`);
  }
  /** Bytes still in the file after the cursor: the bound for every declared count and length. */
  remaining(): number {
    return this.fileSize - this.pos;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(field: string): number {
    this.need(8, field);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError('MALFORMED', field, `value ${v} is too large`);
    return Number(v);
  }
  string(field: string): string {
    const len = this.u64(field);
    if (len > this.remaining()) throw new GgufError('TRUNCATED', field, `string of ${len} bytes exceeds the ${this.remaining()} left in the file`);
    this.need(len, field);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  scalar(type: GgufScalarType, field: string): number | bigint | boolean | string {
    if (type === 'string') return this.string(field);
    const size = SCALAR_SIZE[type]!;
    this.need(size, field);
    const b = this.buf;
    const p = this.pos;
    this.pos += size;
    switch (type) {
      case 'u8': return b.readUInt8(p);
      case 'i8': return b.readInt8(p);
      case 'u16': return b.readUInt16LE(p);
      case 'i16': return b.readInt16LE(p);
      case 'u32': return b.readUInt32LE(p);
      case 'i32': return b.readInt32LE(p);
      case 'f32': return b.readFloatLE(p);
      case 'f64': return b.readDoubleLE(p);
      case 'u64': return b.readBigUInt64LE(p);
      case 'i64': return b.readBigInt64LE(p);
      case 'bool': {
        const v = b.readUInt8(p);
        if (v > 1) throw new GgufError('MALFORMED', field, `bool byte is ${v}`);
        return v === 1;
      }
      default: {
        const never: never = type;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  }
}

function valueType(id: number, field: string): GgufScalarType | 'array' {
  const t = SCALAR_BY_ID[id];
  if (t === undefined) throw new GgufError('MALFORMED', field, `unknown metadata value type ${id}`);
  return t;
}

function readArray(c: Cursor, field: string, depth: number): GgufArrayValue {
  if (depth > MAX_ARRAY_DEPTH) throw new GgufError('MALFORMED', field, 'arrays nested too deeply');
  const itemType = valueType(c.u32(field), field);
  const count = c.u64(field);
  // Every item takes at least one byte (strings and arrays at least eight), so a count beyond the
  // remaining bytes is a lie; refuse it before allocating anything.
  const minItem = itemType === 'string' || itemType === 'array' ? 8 : SCALAR_SIZE[itemType]!;
  if (count * minItem > c.remaining()) {
    throw new GgufError('TRUNCATED', field, `array of ${count} ${itemType} exceeds the ${c.remaining()} bytes left in the file`);
  }
  const value: (number | bigint | boolean | string | GgufArrayValue)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    value[i] = itemType === 'array' ? readArray(c, field, depth + 1) : c.scalar(itemType, field);
  }
  return { type: 'array', itemType, value };
}

function readValue(c: Cursor, field: string): GgufValue {
  const type = valueType(c.u32(field), field);
  if (type === 'array') return readArray(c, field, 1);
  return { type, value: c.scalar(type, field) } as GgufValue;
}

function parse(buf: Buffer, fileSize: number): GgufFile {
  const c = new Cursor(buf, fileSize);
  if (fileSize < 4 || (buf.length >= 4 && buf.readUInt32LE(0) !== GGUF_MAGIC)) {
    throw new GgufError('NOT_GGUF', 'magic', 'file does not start with "GGUF"');
  }
  c.pos = 4;
  const version = c.u32('version');
  if (version !== GGUF_VERSION) throw new GgufError('UNSUPPORTED_VERSION', 'version', `GGUF version ${version}, expected ${GGUF_VERSION}`);
  const tensorCount = c.u64('tensor_count');
  const kvCount = c.u64('metadata_kv_count');
  // A tensor info needs at least 8+4+4+8+8 bytes, a KV at least 8+1+4+1.
  if (tensorCount * 32 > c.remaining()) throw new GgufError('TRUNCATED', 'tensor_count', `${tensorCount} tensors cannot fit in ${c.remaining()} bytes`);
  if (kvCount * 13 > c.remaining()) throw new GgufError('TRUNCATED', 'metadata_kv_count', `${kvCount} entries cannot fit in ${c.remaining()} bytes`);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata[${i}].key`);
    if (metadata.has(key)) throw new GgufError('MALFORMED', key, 'duplicate metadata key');
    metadata.set(key, readValue(c, key));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (al.type !== 'u32' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw new GgufError('MALFORMED', 'general.alignment', 'must be a u32 power of two');
    }
    alignment = al.value;
  }

  const infos: Omit<GgufTensorInfo, 'byteLength'>[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`tensor[${i}].name`);
    if (names.has(name)) throw new GgufError('MALFORMED', name, 'duplicate tensor name');
    names.add(name);
    const nDims = c.u32(name);
    if (nDims < 1 || nDims > MAX_DIMS) throw new GgufError('MALFORMED', name, `${nDims} dimensions`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const n = c.u64(name);
      if (n < 1) throw new GgufError('MALFORMED', name, `dimension ${d} is ${n}`);
      dims.push(n);
    }
    const type = c.u32(name);
    const offset = c.u64(name);
    infos.push({ name, dims, type, offset });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;

  const tensors = infos.map((t): GgufTensorInfo => {
    const gt = GGML_TYPES[t.type];
    if (gt === undefined) throw new GgufError('MALFORMED', t.name, `unknown ggml type ${t.type}`);
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements) || t.dims[0]! % gt.blockSize !== 0) {
      throw new GgufError('MALFORMED', t.name, `dims ${t.dims.join('x')} do not fit type ${gt.name}`);
    }
    const byteLength = (elements / gt.blockSize) * gt.blockBytes;
    if (t.offset % alignment !== 0) throw new GgufError('MALFORMED', t.name, `offset ${t.offset} is not aligned to ${alignment}`);
    if (dataOffset + t.offset + byteLength > fileSize) {
      throw new GgufError('TRUNCATED', t.name, `data ends at ${dataOffset + t.offset + byteLength}, file has ${fileSize} bytes`);
    }
    return { ...t, byteLength };
  });
  return { version, metadata, tensors, alignment, dataOffset, fileSize };
}

/** Parses a GGUF file held fully in memory. */
export function parseGguf(bytes: Uint8Array): GgufFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return parse(buf, buf.length);
}

/**
 * Reads the header of a GGUF file on disk (metadata and tensor infos, never the tensor data),
 * growing the read window only while the header needs it.
 */
export async function readGgufHeader(path: string, opts: { maxHeaderBytes?: number; initialBytes?: number } = {}): Promise<GgufFile> {
  const max = opts.maxHeaderBytes ?? 256 * 1024 * 1024;
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let want = Math.min(size, opts.initialBytes ?? 1024 * 1024);
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      try {
        return parse(buf.subarray(0, bytesRead), size);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        if (want >= max) throw new GgufError('MALFORMED', 'header', `header is larger than ${max} bytes`);
        want = Math.min(size, want * 4, max);
      }
    }
  } finally {
    await fh.close();
  }
}

/** Reads one tensor's raw bytes (for tests and tools; engines mmap the file themselves). */
export async function readTensorData(path: string, file: GgufFile, name: string): Promise<Buffer> {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new GgufError('MISSING_FIELD', name, 'no such tensor');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(t.byteLength);
    await fh.read(buf, 0, t.byteLength, file.dataOffset + t.offset);
    return buf;
  } finally {
    await fh.close();
  }
}
