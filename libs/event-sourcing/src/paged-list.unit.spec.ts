import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDocumentStore } from './memory-document-store.js';
import { PagedList, versionIncrements } from './paged-list.js';

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

  it('reads a list grown in increments from the latest increment that holds each item', async () => {
    const store = new MemoryDocumentStore();
    await store.prepare('p', [{ name: 'pages', indexes: [] }, { name: 'versions', indexes: [] }]);
    const whole = Array.from({ length: 14 }, (_, i) => i * 10);
    // v1: [0, 4); v2 carries all 4 and adds [4, 9); v3 (written whole) [0, 11); v4 carries 11 and adds [11, 14).
    const spans = [
      { id: 'v1', start: 0, end: 4 },
      { id: 'v2', start: 4, end: 9 },
      { id: 'v3', start: 0, end: 11 },
      { id: 'v4', start: 11, end: 14 },
    ];
    const writes = spans.flatMap(({ id, start, end }) => [
      { collection: 'versions', id, doc: { carried: start, count: end } },
      ...list.refs(id, end - start).map((ref) => ({ ...ref, doc: list.page(ref, whole.slice(start, end), (x) => x) })),
    ]);
    await store.commit('p', writes, { cursor: {}, streams: {}, applied: 0 });
    const span = (doc: Record<string, unknown>) => ({ start: doc['carried'] as number, end: doc['count'] as number });
    for (let v = 1; v <= 4; v++) {
      const increments = await versionIncrements(store, 'versions', spans.slice(0, v).map((x) => x.id), span);
      // Back to the latest increment that starts at 0.
      assert.deepEqual(increments, v === 4 ? spans.slice(2, 4) : v === 3 ? [spans[2]] : spans.slice(0, v));
      const end = spans[v - 1]!.end;
      for (let from = 0; from <= end; from++) {
        const needed = await versionIncrements(store, 'versions', spans.slice(0, v).map((x) => x.id), span, from);
        assert.ok(needed!.length <= increments!.length && needed![0]!.start <= from, `v${v} from ${from}`);
        for (let to = from; to <= end; to++) assert.deepEqual(await list.readGrown(store, needed!, from, to), whole.slice(from, to), `v${v} [${from}, ${to})`);
      }
    }
    assert.deepEqual(await versionIncrements(store, 'versions', ['v1', 'v2'], span, 5), [spans[1]], 'only as far back as needed');
    const all = await versionIncrements(store, 'versions', ['v1', 'v2'], span);
    assert.equal(await list.readGrown(store, all!, 0, 10), undefined, 'past the last increment');
    assert.equal(await list.readGrown(store, [spans[1]!], 0, 9), undefined, 'a gap below the first increment');
    assert.equal(await versionIncrements(store, 'versions', ['v9', 'v2'], span), undefined);
    await store.commit('p', [{ collection: 'pages', id: 'v2#0', doc: null }], { cursor: {}, streams: {}, applied: 0 });
    assert.equal(await list.readGrown(store, all!, 3, 5), undefined, 'a page missing');
    assert.deepEqual(await list.readGrown(store, all!, 0, 4), whole.slice(0, 4));
  });
});
