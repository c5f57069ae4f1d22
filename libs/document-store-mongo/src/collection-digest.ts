import { createHash } from 'node:crypto';
import type { Collection, Filter } from 'mongodb';
import { canonicalJson } from '@opal/event-sourcing';
import { LIVE, VISIBLE, visible, type Stored } from './stored-layout.js';

/**
 * SHA-256 over every live document of a read model in id order, as MemoryDocumentStore's: read a
 * page of `page` documents at a time in the server's id order (each page one complete query), so a
 * read model of millions of documents is never held whole by the process asked for its digest.
 * The server orders strings by code point, JavaScript by UTF-16 unit: they differ only past
 * U+FFFF. If a page shows ids out of JavaScript's order, the collection is read whole and sorted
 * here instead.
 */
export async function digestCollection(coll: Collection<Stored>, page: number): Promise<{ digest: string; documents: number }> {
  const h = createHash('sha256');
  let documents = 0;
  let last: string | undefined;
  for (;;) {
    const filter = last === undefined ? LIVE : { ...LIVE, _id: { $gt: last } };
    const docs = await coll
      .find(filter as Filter<Stored>, { projection: VISIBLE, batchSize: page + 1 })
      .sort({ _id: 1 })
      .limit(page)
      .toArray();
    for (const s of docs) {
      if (last !== undefined && !(last < s._id)) return digestWhole(coll);
      last = s._id;
      h.update(line(s));
    }
    documents += docs.length;
    if (docs.length < page) return { digest: h.digest('hex'), documents };
  }
}

/** The digest from the whole collection, sorted here (ids past U+FFFF). */
async function digestWhole(coll: Collection<Stored>): Promise<{ digest: string; documents: number }> {
  const docs = await coll.find(LIVE, { projection: VISIBLE, batchSize: 1_000_000 }).toArray();
  docs.sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
  const h = createHash('sha256');
  for (const s of docs) h.update(line(s));
  return { digest: h.digest('hex'), documents: docs.length };
}

const line = (s: Stored) => `${JSON.stringify(s._id)}:${canonicalJson(visible(s))}\n`;
