import { BandBuckets } from './band-buckets.js';

/**
 * Near-duplicate detection: MinHash signatures over word 3-shingles (character 5-shingles for
 * very short texts) and locality-sensitive hashing in bands, so a lookup touches only likely
 * candidates; candidates are confirmed by the signatures' estimated Jaccard similarity.
 */
export const MINHASH_SIZE = 128;
const BANDS = 32;
const ROWS = MINHASH_SIZE / BANDS;

// Fixed odd multipliers and xor seeds: the signature of a text never changes between versions.
const SEEDS_A = new Uint32Array(MINHASH_SIZE);
const SEEDS_B = new Uint32Array(MINHASH_SIZE);
{
  let s = 0x9e3779b9;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  for (let i = 0; i < MINHASH_SIZE; i++) {
    SEEDS_A[i] = next() | 1;
    SEEDS_B[i] = next();
  }
}

function fnv1a(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const WORD = /[\p{L}\p{N}]+/gu;

function shingleHashes(text: string): Uint32Array {
  const lower = text.toLowerCase();
  const words: number[] = [];
  for (const m of lower.matchAll(WORD)) words.push(fnv1a(m[0], 0, m[0].length));
  if (words.length >= 3) {
    const out = new Uint32Array(words.length - 2);
    for (let i = 0; i < out.length; i++) {
      let h = Math.imul(words[i]! ^ 0x85ebca6b, 0xcc9e2d51);
      h = Math.imul(h ^ words[i + 1]! ^ (h >>> 13), 0x1b873593);
      h = Math.imul(h ^ words[i + 2]! ^ (h >>> 16), 0xe6546b64);
      out[i] = h >>> 0;
    }
    return out;
  }
  const compact = lower.replace(/\s+/g, ' ').trim();
  const n = Math.max(1, compact.length - 4);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = fnv1a(compact, i, Math.min(compact.length, i + 5));
  return out;
}

export function minhash(text: string): Uint32Array {
  const shingles = shingleHashes(text);
  const sig = new Uint32Array(MINHASH_SIZE).fill(0xffffffff);
  for (let s = 0; s < shingles.length; s++) {
    const x = shingles[s]!;
    for (let k = 0; k < MINHASH_SIZE; k++) {
      let h = Math.imul(x ^ SEEDS_B[k]!, SEEDS_A[k]!);
      h ^= h >>> 15;
      h = Math.imul(h, 0x2c1b3c6d) >>> 0;
      if (h < sig[k]!) sig[k] = h;
    }
  }
  return sig;
}

/** Estimated Jaccard similarity of two signatures, in parts per million. */
export function similarityPpm(a: Uint32Array, b: Uint32Array): number {
  return similarityAt(a, b, 0);
}

export function signatureToBytes(sig: Uint32Array): Uint8Array {
  const out = new Uint8Array(MINHASH_SIZE * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MINHASH_SIZE; i++) view.setUint32(i * 4, sig[i]!, true);
  return out;
}

function bandKey(words: Uint32Array, at: number, band: number): number {
  let h = Math.imul(band + 1, 0x9e3779b1);
  for (let r = 0; r < ROWS; r++) h = Math.imul(h ^ words[at + band * ROWS + r]!, 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

/**
 * The most entries a lookup reads from one band's bucket, latest first. Texts built on a template
 * (a record's keys, a boilerplate paragraph) have one key in the bands the template alone decides,
 * so those buckets hold most of their Datanet: read whole, they made each submission cost time in
 * proportion to the Datanet (templated text about half shared: 4.4 s for the first 2,000
 * submissions of a stream, 100 s for the 2,000 after 30,000, nearly all of it here). Two texts 80%
 * alike meet in each band with probability 0.8^4, in 13 of the 32 on average, mostly on what they
 * share beyond the template, where the buckets are small; one that meets an earlier contribution
 * only in buckets of more than this many later ones is not found.
 */
export const BUCKET_READ_LIMIT = 128;

/** Heap per slot outside the signatures and buckets (ids, live and slotOf), measured on Node 20. */
const SLOT_HEAP_BYTES = 40;

/** Whether this machine lays a Uint32Array's words out little-endian, as a signature's bytes are. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Signatures per block of the pool (32 MiB): a large Datanet's are never all copied to grow it. */
const BLOCK_SIGNATURES = 65_536;
const FIRST_BLOCK_SIGNATURES = 64;

/**
 * The LSH index of one Datanet's live (accepted or pending) contributions, with its buckets in
 * BandBuckets. The signatures lie in
 * pooled blocks of words, not one typed array each: a Datanet's load adds one per contribution, and
 * an array per signature cost an allocation outside the heap and ~100 bytes of object each.
 */
export class NearDuplicateIndex {
  private readonly ids: string[] = [];
  private readonly blocks: Uint32Array[] = [];
  private readonly live: boolean[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly buckets = new BandBuckets(BANDS);

  /** About how many bytes of memory it holds: its signatures and buckets, and per slot its id's place, flag and map entry. */
  bytes(): number {
    let signatures = 0;
    for (const block of this.blocks) signatures += block.byteLength;
    return signatures + this.buckets.bytes() + this.ids.length * SLOT_HEAP_BYTES;
  }

  add(id: string, sig: Uint32Array): void {
    const { block, at } = this.reserve();
    block.set(sig, at);
    this.index(id, block, at);
  }

  /** Adds a signature as an event carries it (little-endian words); false, adding nothing, if the bytes are not one. */
  addBytes(id: string, bytes: Uint8Array): boolean {
    if (bytes.length !== MINHASH_SIZE * 4) return false;
    const { block, at } = this.reserve();
    if (LITTLE_ENDIAN) {
      new Uint8Array(block.buffer, block.byteOffset + at * 4, MINHASH_SIZE * 4).set(bytes);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < MINHASH_SIZE; i++) block[at + i] = view.getUint32(i * 4, true);
    }
    this.index(id, block, at);
    return true;
  }

  /** Room for the next slot's signature: its block and the word it starts at. */
  private reserve(): { block: Uint32Array; at: number } {
    const slot = this.ids.length;
    const b = Math.floor(slot / BLOCK_SIGNATURES);
    const within = slot - b * BLOCK_SIGNATURES;
    let block = this.blocks[b];
    if (!block) {
      block = new Uint32Array((b === 0 ? FIRST_BLOCK_SIGNATURES : BLOCK_SIGNATURES) * MINHASH_SIZE);
      this.blocks.push(block);
    } else if ((within + 1) * MINHASH_SIZE > block.length) {
      // The first block doubles until full size: a small Datanet holds a small one.
      const grown = new Uint32Array(Math.min(block.length * 2, BLOCK_SIGNATURES * MINHASH_SIZE));
      grown.set(block);
      this.blocks[b] = block = grown;
    }
    return { block, at: within * MINHASH_SIZE };
  }

  private index(id: string, words: Uint32Array, at: number): void {
    const slot = this.ids.length;
    this.ids.push(id);
    this.live.push(true);
    this.slotOf.set(id, slot);
    for (let band = 0; band < BANDS; band++) this.buckets.add(slot, band, bandKey(words, at, band));
  }

  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot !== undefined) this.live[slot] = false;
  }

  /**
   * The earliest live contribution at least `thresholdPpm` similar to `sig`, if any, among its
   * candidates (`candidates`).
   */
  findNear(sig: Uint32Array, thresholdPpm: number): { id: string; similarityPpm: number } | undefined {
    let best: { slot: number; sim: number } | undefined;
    for (const slot of this.candidates(sig)) {
      const b = Math.floor(slot / BLOCK_SIGNATURES);
      const sim = similarityAt(sig, this.blocks[b]!, (slot - b * BLOCK_SIGNATURES) * MINHASH_SIZE);
      if (sim >= thresholdPpm && (!best || slot < best.slot)) best = { slot, sim };
    }
    return best && { id: this.ids[best.slot]!, similarityPpm: best.sim };
  }

  /** The live slots that share a band with `sig`, among the latest BUCKET_READ_LIMIT entries of each band's bucket. */
  candidates(sig: Uint32Array): Set<number> {
    const seen = new Set<number>();
    for (let band = 0; band < BANDS; band++) {
      let read = 0;
      for (let entry = this.buckets.first(band, bandKey(sig, 0, band)); entry >= 0 && read < BUCKET_READ_LIMIT; entry = this.buckets.next(entry), read++) {
        const slot = this.buckets.slotOf(entry);
        if (this.live[slot]) seen.add(slot);
      }
    }
    return seen;
  }
}

/** similarityPpm of `sig` and the signature at word `at` of `words`. */
function similarityAt(sig: Uint32Array, words: Uint32Array, at: number): number {
  let same = 0;
  for (let i = 0; i < MINHASH_SIZE; i++) if (sig[i] === words[at + i]) same++;
  return Math.floor((same * 1_000_000) / MINHASH_SIZE);
}
