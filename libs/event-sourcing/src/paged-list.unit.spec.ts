import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDocumentStore } from './memory-document-store.js';
import { PagedList } from './paged-list.js';

describe('PagedList', () => {
  const list = new PagedList<number>('pages', 3);
  const items = Array.from({ length: 8 }, (_, i) => i * 10);

  it('names one page document per `size` items, none for an empty list', () => {
    assert.deepEqual(list.refs('l', 0), []);
    assert.deepEqual(list.refs('l', 3).map((r) => r.id), ['l#0']);
    assert.deepEqual(list.refs('l', 8).map((r) => r.id), ['l#0', 'l#1', 'l#2']);
    assert.deepEqual(list.page({ collection: 'pages', id: 'l#2' }, items, (x) => x + 1), { page: 2, items: [61, 71] });
    assert.throws(() => new PagedList('pages', 0), /size/);
  });

  it('reads any range back from the pages that hold it, and nothing when a page is missing', async () => {
    const store = new MemoryDocumentStore();
    await store.prepare('p', [{ name: 'pages', indexes: [] }]);
    const write = (id: string, refs: ReturnType<typeof list.refs>) => store.commit('p', refs.map((ref) => ({ ...ref, doc: list.page(ref, items, (x) => x) })), { cursor: {}, streams: {}, applied: 0 });
    await write('l', list.refs('l', 8));
    for (const [from, to] of [[0, 8], [2, 4], [3, 6], [5, 8], [7, 7]] as const) assert.deepEqual(await list.read(store, 'l', from, to), items.slice(from, to), `[${from}, ${to})`);
    await write('torn', list.refs('torn', 8).filter((r) => r.id !== 'torn#1'));
    assert.equal(await list.read(store, 'torn', 0, 8), undefined);
    assert.deepEqual(await list.read(store, 'torn', 6, 8), items.slice(6, 8));
  });
});
