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
    if (to <= from) return [];
    const first = Math.floor(from / this.size);
    const ids = Array.from({ length: Math.floor((to - 1) / this.size) - first + 1 }, (_, i) => this.pageId(id, first + i));
    const docs = await store.getMany(this.collection, ids);
    const out: T[] = [];
    for (const pageId of ids) {
      const doc = docs.get(pageId) as PageDoc<T> | undefined;
      if (!doc) return undefined;
      const base = doc.page * this.size;
      for (let i = Math.max(from - base, 0); i < doc.items.length && base + i < to; i++) out.push(doc.items[i]!);
    }
    return out;
  }
}
