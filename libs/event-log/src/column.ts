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
}
