/** Bytes per chunk of the arena; a larger record gets a chunk of its own. */
const CHUNK_BYTES = 4 << 20;

/**
 * Append-only storage of records' bytes in large chunks: many small records held without an object
 * (or a Buffer view) each, so a process that holds a long log has little for the collector to walk.
 * A record is addressed by (chunk, start), its length kept by the caller.
 */
export class RecordArena {
  private readonly chunks: Buffer[] = [];
  /** The chunk small records go to, and how much of it is used. */
  private open = -1;
  private used = 0;
  private total = 0;

  /** Copies `bytes` in; returns where they went. */
  add(bytes: Uint8Array): { chunk: number; start: number } {
    const n = bytes.byteLength;
    this.total += n;
    if (n > CHUNK_BYTES) {
      // A record this large (a big version manifest) gets a chunk of its own; the open one stays open.
      const own = Buffer.allocUnsafeSlow(n);
      own.set(bytes);
      return { chunk: this.chunks.push(own) - 1, start: 0 };
    }
    if (this.open < 0 || this.used + n > CHUNK_BYTES) {
      this.open = this.chunks.push(Buffer.allocUnsafeSlow(CHUNK_BYTES)) - 1;
      this.used = 0;
    }
    const start = this.used;
    this.chunks[this.open]!.set(bytes, start);
    this.used += n;
    return { chunk: this.open, start };
  }

  chunk(i: number): Buffer {
    return this.chunks[i]!;
  }

  /** Bytes of records held (not counting the unused end of the open chunk). */
  get bytes(): number {
    return this.total;
  }
}

/** A growable column of numbers in a typed array (no per-element heap object, nothing to scan). */
export class Column<A extends Float64Array | Uint32Array> {
  private data: A;
  length = 0;

  constructor(private readonly make: (n: number) => A) {
    this.data = make(1024);
  }

  push(v: number): number {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length] = v;
    return this.length++;
  }

  get(i: number): number {
    return this.data[i]!;
  }
}
