import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufError } from './gguf.errors.js';
import { parseGguf, readGgufHeader, readTensorData } from './gguf.reader.js';
import { gv, writeGguf } from './gguf.writer.js';
import { GGML_F32 } from './gguf.types.js';
import { generateLoraAdapter, generateTinyLlama } from './tiny-llama.generator.js';
import { validateAdapter, validateBaseModel } from './model-validation.js';

const code = (c: string) => (e: unknown) => e instanceof GgufError && e.code === c;

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-gguf-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe('gguf reader and writer', () => {
  it('round-trips metadata of every type and tensor infos', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const bytes = writeGguf({
      metadata: [
        ['a.u8', { type: 'u8', value: 7 }],
        ['a.i8', { type: 'i8', value: -7 }],
        ['a.u16', { type: 'u16', value: 65000 }],
        ['a.i16', { type: 'i16', value: -3000 }],
        ['a.u32', gv.u32(4_000_000_000)],
        ['a.i32', gv.i32(-5)],
        ['a.f32', gv.f32(0.5)],
        ['a.f64', { type: 'f64', value: Math.PI }],
        ['a.u64', gv.u64(2n ** 60n)],
        ['a.i64', { type: 'i64', value: -(2n ** 60n) }],
        ['a.bool', gv.bool(true)],
        ['a.str', gv.str('héllo ▁')],
        ['a.arr', gv.arr('string', ['x', 'yz'])],
        ['a.nested', { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'i32', value: [1, -2] }] }],
      ],
      tensors: [{ name: 't', dims: [3, 2], type: GGML_F32, data: new Uint8Array(data.buffer) }],
    });
    const f = parseGguf(bytes);
    assert.equal(f.version, 3);
    assert.equal(f.metadata.get('a.u32')?.value, 4_000_000_000);
    assert.equal(f.metadata.get('a.i16')?.value, -3000);
    assert.equal(f.metadata.get('a.f64')?.value, Math.PI);
    assert.equal(f.metadata.get('a.u64')?.value, 2n ** 60n);
    assert.equal(f.metadata.get('a.i64')?.value, -(2n ** 60n));
    assert.equal(f.metadata.get('a.str')?.value, 'héllo ▁');
    assert.deepEqual(f.metadata.get('a.arr'), { type: 'array', itemType: 'string', value: ['x', 'yz'] });
    assert.deepEqual(f.metadata.get('a.nested'), { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'i32', value: [1, -2] }] });
    assert.deepEqual(f.tensors, [{ name: 't', dims: [3, 2], type: 0, offset: 0, byteLength: 24 }]);
    assert.equal(f.dataOffset % 32, 0);
    assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset + f.dataOffset, bytes.byteOffset + f.dataOffset + 24)), data);
  });

  it('refuses bad magic, other versions, lying counts and truncated data, naming the field', () => {
    const good = generateTinyLlama();
    assert.throws(() => parseGguf(Buffer.from('GGML....')), code('NOT_GGUF'));
    const v2 = Buffer.from(good);
    v2.writeUInt32LE(2, 4);
    assert.throws(() => parseGguf(v2), (e: unknown) => code('UNSUPPORTED_VERSION')(e) && (e as GgufError).field === 'version');
    const lying = Buffer.from(good);
    lying.writeBigUInt64LE(2n ** 40n, 16);
    assert.throws(() => parseGguf(lying), (e: unknown) => code('TRUNCATED')(e) && (e as GgufError).field === 'metadata_kv_count');
    assert.throws(() => parseGguf(good.subarray(0, good.length - 100)), (e: unknown) => code('TRUNCATED')(e) && /output\.weight/.test((e as Error).message));
    assert.throws(() => parseGguf(good.subarray(0, 200)), code('TRUNCATED'));
    const badAlign = writeGguf({ metadata: [['general.alignment', gv.u32(24)]], tensors: [] });
    assert.throws(() => parseGguf(badAlign), (e: unknown) => code('MALFORMED')(e) && (e as GgufError).field === 'general.alignment');
  });

  it('reads a header from disk in growing windows and a tensor by name', withDir(async (dir) => {
    const p = join(dir, 'm.gguf');
    writeFileSync(p, generateTinyLlama({ seed: 3 }));
    const f = await readGgufHeader(p, { initialBytes: 100 });
    assert.equal(f.tensors.length, 3 + 2 * 9);
    const norm = await readTensorData(p, f, 'output_norm.weight');
    assert.ok(new Float32Array(norm.buffer, norm.byteOffset, 64).every((x) => x === 1));
  }));

  it('generates the same bytes from the same seed and different bytes from another', () => {
    assert.ok(generateTinyLlama({ seed: 5 }).equals(generateTinyLlama({ seed: 5 })));
    assert.ok(!generateTinyLlama({ seed: 5 }).equals(generateTinyLlama({ seed: 6 })));
  });
});

describe('registration validation', () => {
  it('accepts the generated base and its adapters', withDir(async (dir) => {
    const bp = join(dir, 'base.gguf');
    writeFileSync(bp, generateTinyLlama());
    const base = await validateBaseModel(bp);
    assert.equal(base.architecture, 'llama');
    assert.equal(base.embeddingLength, 64);
    assert.equal(base.contentHash.length, 64);
    const ap = join(dir, 'a.gguf');
    writeFileSync(ap, generateLoraAdapter(base, { rank: 4, alpha: 8, targets: ['blk.0.attn_q.weight', 'token_embd.weight'] }));
    const a = await validateAdapter(ap, base);
    assert.deepEqual({ rank: a.rank, alpha: a.alpha, targets: a.targets }, { rank: 4, alpha: 8, targets: ['blk.0.attn_q.weight', 'token_embd.weight'] });
  }));

  it('refuses what is not a matching LoRA adapter with a field-naming error', withDir(async (dir) => {
    const bp = join(dir, 'base.gguf');
    writeFileSync(bp, generateTinyLlama());
    const base = await validateBaseModel(bp);
    const write = (name: string, bytes: Uint8Array) => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const expectErr = async (p: string, c: string, field: RegExp) =>
      assert.rejects(validateAdapter(p, base), (e: unknown) => code(c)(e) && field.test((e as GgufError).field));

    await expectErr(write('text.gguf', Buffer.from('hello, not a model at all')), 'NOT_GGUF', /magic/);
    await expectErr(bp, 'NOT_AN_ADAPTER', /general\.type/);
    const notLora = writeGguf({ metadata: [['general.architecture', gv.str('llama')], ['general.type', gv.str('adapter')], ['adapter.type', gv.str('control_vector')]], tensors: [] });
    await expectErr(write('cv.gguf', notLora), 'UNSUPPORTED_ADAPTER_TYPE', /adapter\.type/);
    await expectErr(write('arch.gguf', generateLoraAdapter(base, { architecture: 'qwen2' })), 'ARCHITECTURE_MISMATCH', /general\.architecture/);
    const wideBase = { architecture: 'llama', tensorShapes: new Map([['blk.0.attn_q.weight', [128, 128]]]) };
    await expectErr(write('shape.gguf', generateLoraAdapter(wideBase, { targets: ['blk.0.attn_q.weight'] })), 'SHAPE_MISMATCH', /blk\.0\.attn_q\.weight\.lora_a/);
    const otherBase = { architecture: 'llama', tensorShapes: new Map([['blk.9.attn_q.weight', [64, 64]]]) };
    await expectErr(write('missing.gguf', generateLoraAdapter(otherBase, { targets: ['blk.9.attn_q.weight'] })), 'SHAPE_MISMATCH', /blk\.9/);
    const good = generateLoraAdapter(base);
    await expectErr(write('trunc.gguf', good.subarray(0, good.length - 1000)), 'TRUNCATED', /lora_b/);
    const v1 = Buffer.from(good);
    v1.writeUInt32LE(1, 4);
    await expectErr(write('v1.gguf', v1), 'UNSUPPORTED_VERSION', /version/);
    await assert.rejects(validateBaseModel(write('a2.gguf', good)), code('NOT_A_BASE_MODEL'));
  }));
});
