import type { DocumentTable } from '../format/shard-file.js';

export type { DocumentTable };

const utf8 = new TextEncoder();

/**
 * Collects a shard's documents already encoded as its file stores them: ids as UTF-8 bytes,
 * contributors as an index into the shard's distinct addresses. A build of hundreds of thousands of
 * documents per shard keeps no string per document.
 */
export class DocumentTableBuilder {
  private starts = new Uint32Array(1024);
  private orders = new Float64Array(1024);
  private contributorOf = new Uint32Array(1024);
  private idOffsets = new Uint32Array(1025);
  private idBytes = new Uint8Array(16 * 1024);
  private readonly contributors = new Map<string, number>();
  private n = 0;

  get documents(): number {
    return this.n;
  }

  add(start: number, orderKey: number, contributionId: string, contributor: string): void {
    const i = this.n;
    if (i === this.starts.length) {
      this.starts = grow(this.starts, 2 * i);
      this.orders = grow(this.orders, 2 * i);
      this.contributorOf = grow(this.contributorOf, 2 * i);
      this.idOffsets = grow(this.idOffsets, 2 * i + 1);
    }
    this.starts[i] = start;
    this.orders[i] = orderKey;
    let c = this.contributors.get(contributor);
    if (c === undefined) this.contributors.set(contributor, (c = this.contributors.size));
    this.contributorOf[i] = c;
    const at = this.idOffsets[i]!;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (at + 3 * contributionId.length > this.idBytes.length) this.idBytes = grow(this.idBytes, 2 * (at + 3 * contributionId.length));
    this.idOffsets[i + 1] = at + utf8.encodeInto(contributionId, this.idBytes.subarray(at)).written;
    this.n = i + 1;
  }

  /** The table, in arrays of their exact sizes; `end` closes the last document. */
  finish(end: number): DocumentTable {
    const n = this.n;
    const docStarts = new Uint32Array(n + 1);
    docStarts.set(this.starts.subarray(0, n));
    docStarts[n] = end;
    const names = [...this.contributors.keys()];
    const contributorOffsets = new Uint32Array(names.length + 1);
    const encoded = names.map((s) => utf8.encode(s));
    encoded.forEach((b, i) => (contributorOffsets[i + 1] = contributorOffsets[i]! + b.length));
    const contributorBytes = new Uint8Array(contributorOffsets[names.length]!);
    encoded.forEach((b, i) => contributorBytes.set(b, contributorOffsets[i]!));
    return {
      docStarts,
      docOrder: this.orders.slice(0, n),
      docContributor: this.contributorOf.slice(0, n),
      docIdOffsets: this.idOffsets.slice(0, n + 1),
      docIdBytes: this.idBytes.slice(0, this.idOffsets[n]!),
      contributorOffsets,
      contributorBytes,
    };
  }
}

function grow<T extends Uint32Array | Float64Array | Uint8Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

/** A table from plain lists (tests and small builds). */
export function documentTable(docs: readonly { start: number; orderKey: number; contributionId: string; contributor: string }[], end: number): DocumentTable {
  const b = new DocumentTableBuilder();
  for (const d of docs) b.add(d.start, d.orderKey, d.contributionId, d.contributor);
  return b.finish(end);
}
