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
  let same = 0;
  for (let i = 0; i < MINHASH_SIZE; i++) if (a[i] === b[i]) same++;
  return Math.floor((same * 1_000_000) / MINHASH_SIZE);
}

export function signatureToBytes(sig: Uint32Array): Uint8Array {
  const out = new Uint8Array(MINHASH_SIZE * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MINHASH_SIZE; i++) view.setUint32(i * 4, sig[i]!, true);
  return out;
}

export function signatureFromBytes(bytes: Uint8Array): Uint32Array | undefined {
  if (bytes.length !== MINHASH_SIZE * 4) return undefined;
  const out = new Uint32Array(MINHASH_SIZE);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < MINHASH_SIZE; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

function bandKey(sig: Uint32Array, band: number): number {
  let h = Math.imul(band + 1, 0x9e3779b1);
  for (let r = 0; r < ROWS; r++) h = Math.imul(h ^ sig[band * ROWS + r]!, 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

/** The LSH index of one Datanet's live (accepted or pending) contributions. */
export class NearDuplicateIndex {
  private readonly ids: string[] = [];
  private readonly sigs: Uint32Array[] = [];
  private readonly live: boolean[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly buckets = new Map<number, number[]>();

  add(id: string, sig: Uint32Array): void {
    const slot = this.ids.length;
    this.ids.push(id);
    this.sigs.push(sig);
    this.live.push(true);
    this.slotOf.set(id, slot);
    for (let b = 0; b < BANDS; b++) {
      const key = bandKey(sig, b);
      const list = this.buckets.get(key);
      if (list) list.push(slot);
      else this.buckets.set(key, [slot]);
    }
  }

  remove(id: string): void {
    const slot = this.slotOf.get(id);
    if (slot !== undefined) this.live[slot] = false;
  }

  /** The earliest live contribution at least `thresholdPpm` similar to `sig`, if any. */
  findNear(sig: Uint32Array, thresholdPpm: number): { id: string; similarityPpm: number } | undefined {
    let best: { slot: number; sim: number } | undefined;
    const seen = new Set<number>();
    for (let b = 0; b < BANDS; b++) {
      const list = this.buckets.get(bandKey(sig, b));
      if (!list) continue;
      for (const slot of list) {
        if (seen.has(slot) || !this.live[slot]) continue;
        seen.add(slot);
        const sim = similarityPpm(sig, this.sigs[slot]!);
        if (sim >= thresholdPpm && (!best || slot < best.slot)) best = { slot, sim };
      }
    }
    return best && { id: this.ids[best.slot]!, similarityPpm: best.sim };
  }
}
