import type { Doc, DocumentStore } from './document-store.port.js';
import type { DocRef } from './projection.js';

/** One page of a paged list: items `page * size` onwards. */
export type PageDoc<T> = { page: number; items: T[] };

/**
 * A long list in a read model, kept as page documents `<id>#<page>` of `size` items each, so no
 * document outgrows a store's limit (MongoDB's is 16 MiB). A projection routes an event to
 * `refs(id, n)` and evolves each page with `page(ref, items)`; readers take `read`.
 */
export class PagedList<T> {
  constructor(
    readonly collection: string,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('size: a positive integer');
  }

  pages(count: number): number {
    return Math.ceil(count / this.size);
  }

  pageId(id: string, page: number): string {
    return `${id}#${page}`;
  }

  /** The page documents of a list of `count` items. */
  refs(id: string, count: number): DocRef[] {
    return Array.from({ length: this.pages(count) }, (_, page) => ({ collection: this.collection, id: this.pageId(id, page) }));
  }

  /** The page document `ref` names, cut from the whole list; `map` shapes the page's items only. */
  page<S>(ref: DocRef, items: readonly S[], map: (item: S) => T): PageDoc<T> & Doc {
    const page = Number(ref.id.slice(ref.id.lastIndexOf('#') + 1));
    return { page, items: items.slice(page * this.size, (page + 1) * this.size).map(map) };
  }

  /**
   * Items [from, to) of the list `id`, read from the pages that hold them; undefined when one of
   * those pages is missing (a store without transactions writes the pages one by one).
   */
  async read(store: DocumentStore, id: string, from: number, to: number): Promise<T[] | undefined> {
    return this.readParts(store, [{ id, from, to }]);
  }

  /**
   * Items [from, to) of a list that only grows and is kept in increments, oldest first: increment k
   * is the paged list `id` of items [start, end) of the whole, and starts where an earlier one ends
   * (or at 0). Each item is read from the latest increment that holds it, all pages in one read;
   * undefined when a page is missing or the increments leave a gap below `to`.
   */
  async readGrown(store: DocumentStore, increments: readonly ListIncrement[], from: number, to: number): Promise<T[] | undefined> {
    const parts: Part[] = [];
    let top = to;
    for (let k = increments.length - 1; k >= 0 && top > from; k--) {
      const inc = increments[k]!;
      if (inc.end < top) return undefined;
      const start = Math.max(from, inc.start);
      if (start >= top) continue;
      parts.unshift({ id: inc.id, from: start - inc.start, to: top - inc.start });
      top = start;
    }
    return top > from ? undefined : this.readParts(store, parts);
  }

  /**
   * Items [from, to) of version `version` of a list grown version by version, such as a Datanet's
   * manifest: version k's document in `versions.collection` has id `versions.id(k)`, which is also
   * its page list's id, and `versions.span` reads from it where its own items start and end.
   * Undefined while a version document or page it needs is not written.
   */
  async readVersion(store: DocumentStore, versions: VersionDocs, version: number, from: number, to: number): Promise<T[] | undefined> {
    const ids = Array.from({ length: version }, (_, k) => versions.id(k + 1));
    const increments = await versionIncrements(store, versions.collection, ids, versions.span, from);
    return increments && this.readGrown(store, increments, from, to);
  }

  private async readParts(store: DocumentStore, parts: readonly Part[]): Promise<T[] | undefined> {
    const ids: string[] = [];
    for (const { id, from, to } of parts) {
      if (to <= from) continue;
      for (let page = Math.floor(from / this.size); page <= Math.floor((to - 1) / this.size); page++) ids.push(this.pageId(id, page));
    }
    if (ids.length === 0) return [];
    const docs = await store.getMany(this.collection, ids);
    const out: T[] = [];
    for (const { id, from, to } of parts) {
      if (to <= from) continue;
      for (let page = Math.floor(from / this.size); page <= Math.floor((to - 1) / this.size); page++) {
        const doc = docs.get(this.pageId(id, page)) as PageDoc<T> | undefined;
        if (!doc) return undefined;
        const base = page * this.size;
        for (let i = Math.max(from - base, 0); i < doc.items.length && base + i < to; i++) out.push(doc.items[i]!);
      }
    }
    return out;
  }
}

/** Where a list grown version by version keeps its versions' documents (see PagedList.readVersion). */
export type VersionDocs = {
  readonly collection: string;
  readonly id: (version: number) => string;
  readonly span: (doc: Doc) => { start: number; end: number };
};

/** Items [start, end) of a growing list, kept as the paged list `id` (see PagedList.readGrown). */
export type ListIncrement = { readonly id: string; readonly start: number; readonly end: number };

type Part = { readonly id: string; readonly from: number; readonly to: number };

/**
 * The increments of a list grown version by version that hold its items from `from` on, oldest
 * first: read from the version documents `ids` (versions 1 to n, each document's id also its page
 * list's id), newest first and only as far back as needed; `span` reads an increment's [start, end)
 * from its document. Undefined when a document it needs is missing.
 */
export async function versionIncrements(
  store: DocumentStore,
  collection: string,
  ids: readonly string[],
  span: (doc: Doc) => { start: number; end: number },
  from = 0,
): Promise<ListIncrement[] | undefined> {
  const out: ListIncrement[] = [];
  for (let end = ids.length, chunk = 4; end > 0; end -= chunk, chunk *= 4) {
    const wanted = ids.slice(Math.max(0, end - chunk), end);
    const docs = await store.getMany(collection, wanted);
    for (let k = wanted.length - 1; k >= 0; k--) {
      const doc = docs.get(wanted[k]!);
      if (!doc) return undefined;
      const inc = { id: wanted[k]!, ...span(doc) };
      out.unshift(inc);
      if (inc.start <= from) return out;
    }
  }
  return out;
}
