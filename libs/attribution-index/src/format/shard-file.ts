import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/**
 * One shard of an index, as a file:
 *
 *   header (320 bytes, little-endian)
 *     0   magic "OPALSAX\0"            8   format version u32     12  header size u32
 *     16  positions u32 (tokens + one separator per document)    20  documents u32
 *     24  alphabet size u32           28  contributors u32       32  shard number u32
 *     40  tokenizer id (64 bytes UTF-8, zero padded)
 *     104 section table: 11 x (offset f64, length f64) in bytes
 *     288 SHA-256 of header bytes [0, 288) followed by every byte after the header
 *   sections, each 8-byte aligned: tokens u32[n], suffix array u32[n], first-token buckets
 *   u32[K+1], document starts u32[d+1], document order f64[d], document contributor u32[d],
 *   contribution id offsets u32[d+1] + UTF-8 bytes, contributor offsets u32[c+1] + UTF-8 bytes.
 *
 * Loading reads the file once into one buffer and takes typed-array views over it: no section is
 * copied or parsed up front (strings are decoded only for the documents a query touches).
 */
export const SHARD_MAGIC = 'OPALSAX\0';
export const SHARD_FORMAT_VERSION = 1;
const HEADER_SIZE = 320;
const HASHED_HEADER = 288;
const SECTIONS = ['tokens', 'suffixArray', 'buckets', 'docStarts', 'docOrder', 'docContributor', 'docIdOffsets', 'docIdBytes', 'contributorOffsets', 'contributorBytes', 'reserved'] as const;

export type ShardData = {
  readonly shard: number;
  readonly tokenizerId: string;
  readonly alphabetSize: number;
  /** Token ids, each document followed by the separator 0. */
  readonly tokens: Uint32Array;
  readonly suffixArray: Uint32Array;
  /** buckets[c] .. buckets[c+1]: the suffix-array range of suffixes starting with token c. */
  readonly buckets: Uint32Array;
} & DocumentTable;

/** The document sections of a shard: starts, order keys, ids and contributors. */
export type DocumentTable = {
  readonly docStarts: Uint32Array;
  /** Acceptance order of each document's contribution (an integer). */
  readonly docOrder: Float64Array;
  readonly docContributor: Uint32Array;
  readonly docIdOffsets: Uint32Array;
  readonly docIdBytes: Uint8Array;
  readonly contributorOffsets: Uint32Array;
  readonly contributorBytes: Uint8Array;
};

export type LoadedShard = ShardData & { readonly sha256: string; readonly fileBytes: number };

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes a shard straight from its arrays (no concatenated copy) and returns its SHA-256. */
export function writeShardFile(path: string, s: ShardData): { sha256: string; bytes: number } {
  const parts: Uint8Array[] = [s.tokens, s.suffixArray, s.buckets, s.docStarts, s.docOrder, s.docContributor, s.docIdOffsets, s.docIdBytes, s.contributorOffsets, s.contributorBytes, new Uint8Array(0)].map(bytesOf);
  const header = Buffer.alloc(HEADER_SIZE);
  header.write(SHARD_MAGIC, 0, 'latin1');
  header.writeUInt32LE(SHARD_FORMAT_VERSION, 8);
  header.writeUInt32LE(HEADER_SIZE, 12);
  header.writeUInt32LE(s.tokens.length, 16);
  header.writeUInt32LE(s.docOrder.length, 20);
  header.writeUInt32LE(s.alphabetSize, 24);
  header.writeUInt32LE(s.contributorOffsets.length - 1, 28);
  header.writeUInt32LE(s.shard, 32);
  const tid = Buffer.from(s.tokenizerId, 'utf8');
  if (tid.length > 64) throw new Error('tokenizer id longer than 64 bytes');
  tid.copy(header, 40);
  let offset = HEADER_SIZE;
  parts.forEach((p, i) => {
    header.writeDoubleLE(offset, 104 + i * 16);
    header.writeDoubleLE(p.byteLength, 112 + i * 16);
    offset += align8(p.byteLength);
  });
  const hash = createHash('sha256').update(header.subarray(0, HASHED_HEADER));
  const pad = new Uint8Array(8);
  for (const p of parts) hashAll(hash, p).update(pad.subarray(0, align8(p.byteLength) - p.byteLength));
  const sha256 = hash.digest();
  sha256.copy(header, HASHED_HEADER);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, header);
    for (const p of parts) {
      writeAll(fd, p);
      writeAll(fd, pad.subarray(0, align8(p.byteLength) - p.byteLength));
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: sha256.toString('hex'), bytes: offset };
}

/** Reads a shard file into one buffer and views its sections; `verify` recomputes the SHA-256. */
export function loadShardFile(path: string, verify: boolean): LoadedShard {
  const buf = readWhole(path);
  if (buf.length < HEADER_SIZE || buf.toString('latin1', 0, 8) !== SHARD_MAGIC) throw new Error(`${path}: not an attribution index shard`);
  const version = buf.readUInt32LE(8);
  if (version !== SHARD_FORMAT_VERSION) throw new Error(`${path}: shard format ${version}, expected ${SHARD_FORMAT_VERSION}`);
  const sha256 = buf.toString('hex', HASHED_HEADER, HASHED_HEADER + 32);
  if (verify) {
    const actual = hashAll(createHash('sha256').update(buf.subarray(0, HASHED_HEADER)), buf.subarray(HEADER_SIZE)).digest('hex');
    if (actual !== sha256) throw new Error(`${path}: checksum mismatch (file is damaged)`);
  }
  const section = (i: number) => ({ offset: buf.readDoubleLE(104 + i * 16), length: buf.readDoubleLE(112 + i * 16) });
  const u32 = (i: number) => {
    const { offset, length } = section(i);
    return new Uint32Array(buf.buffer, buf.byteOffset + offset, length / 4);
  };
  const u8 = (i: number) => {
    const { offset, length } = section(i);
    return new Uint8Array(buf.buffer, buf.byteOffset + offset, length);
  };
  const order = section(4);
  return {
    shard: buf.readUInt32LE(32),
    tokenizerId: buf.toString('utf8', 40, 104).replace(/\0+$/, ''),
    alphabetSize: buf.readUInt32LE(24),
    tokens: u32(0),
    suffixArray: u32(1),
    buckets: u32(2),
    docStarts: u32(3),
    docOrder: new Float64Array(buf.buffer, buf.byteOffset + order.offset, order.length / 8),
    docContributor: u32(5),
    docIdOffsets: u32(6),
    docIdBytes: u8(7),
    contributorOffsets: u32(8),
    contributorBytes: u8(9),
    sha256,
    fileBytes: buf.length,
  };
}

// Hash.update takes at most 2 GiB - 1 bytes per call; a shard's sections can be larger.
function hashAll(hash: Hash, bytes: Uint8Array): Hash {
  for (let off = 0; off < bytes.byteLength; off += 1 << 30) hash.update(bytes.subarray(off, Math.min(bytes.byteLength, off + (1 << 30))));
  return hash;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  // writeSync takes at most 2 GiB per call.
  for (let off = 0; off < bytes.byteLength; ) off += writeSync(fd, bytes, off, Math.min(bytes.byteLength - off, 1 << 30));
}

/** One read into one fresh buffer (fresh, so its byte offset is 0 and every view is aligned). */
function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafeSlow(size);
    for (let off = 0; off < size; ) {
      const n = readSync(fd, buf, off, Math.min(size - off, 1 << 30), off);
      if (n === 0) throw new Error(`${path}: file shrank while reading`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

export { SECTIONS as SHARD_SECTIONS };
