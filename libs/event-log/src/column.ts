/** Entries per block of a Column, and of its first allocation. */
const BLOCK = 1 << 16;
const FIRST_BLOCK = 256;

/**
 * A growable column of numbers in typed arrays of at most 65,536 entries (no per-element heap object,
 * nothing to scan); past the first block, growing adds a block instead of copying the whole column.
 */
export class Column<A extends Float64Array | Uint32Array> {
  private readonly blocks: A[] = [];
  length = 0;

  constructor(private readonly make: (n: number) => A) {}

  push(v: number): number {
    const i = this.length;
    const k = i & (BLOCK - 1);
    let block = this.blocks[i >>> 16];
    // A block starts small and doubles up to BLOCK entries, so a short column stays small.
    if (block === undefined) this.blocks.push((block = this.make(FIRST_BLOCK)));
    else if (k === block.length) {
      const bigger = this.make(block.length * 2);
      bigger.set(block);
      this.blocks[i >>> 16] = block = bigger;
    }
    block[k] = v;
    return this.length++;
  }

  get(i: number): number {
    return this.blocks[i >>> 16]![i & (BLOCK - 1)]!;
  }

  /**
   * The values as views of the blocks, in order, without a copy. A value never changes once pushed,
   * and a block that grows is replaced rather than changed, so the views stay right while the column
   * grows (a snapshot written out after this call).
   */
  views(): A[] {
    const out: A[] = [];
    for (let b = 0; b * BLOCK < this.length; b++) out.push(this.blocks[b]!.subarray(0, Math.min(BLOCK, this.length - b * BLOCK)) as A);
    return out;
  }

  /** A column holding `values` (one restored from its views), in blocks as push would have made them. */
  static from<A extends Float64Array | Uint32Array>(make: (n: number) => A, values: Float64Array | Uint32Array): Column<A> {
    const c = new Column(make);
    for (let start = 0; start < values.length; start += BLOCK) {
      const take = Math.min(BLOCK, values.length - start);
      let size = FIRST_BLOCK;
      while (size < take) size *= 2;
      const block = make(size);
      block.set(values.subarray(start, start + take));
      c.blocks.push(block);
    }
    c.length = values.length;
    return c;
  }
}
