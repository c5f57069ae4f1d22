import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Long, MongoClient, ObjectId, type Collection, type Document } from 'mongodb';
import { ensureInfra } from '@opal/test-infra';

const infra = await ensureInfra(['mongo']);

// The server sorts a find by its fields in MongoDB's order of types, then values, whichever way it
// does it (FerretDB has SQLite order the rows where it can, and sorts in its own process where a
// sort field holds a document, an array or another type SQLite does not order alike). The list
// below is in that order, ascending, one document per value.
const id1 = new ObjectId('65a000000000000000000001');
const id2 = new ObjectId('65a0000000000000000000f0');
const ascending: [string, unknown][] = [
  ['m1', undefined], // missing sorts as null
  ['n1', null],
  ['m2', undefined],
  ['i1', -3],
  ['d1', -0.5],
  ['d2', 2.5],
  ['i2', 5],
  ['l1', Long.fromNumber(2 ** 40)],
  ['s1', ''],
  ['s2', 'Z'],
  ['s3', 'a'],
  ['s4', 'a b'],
  ['s5', 'b'],
  ['s6', 'é'],
  ['o1', id1],
  ['o2', id2],
  ['b1', false],
  ['b2', true],
  ['t1', new Date(1_000)],
  ['t2', new Date(2_000_000_000_000)],
];

if (infra.skipped) console.log(`# sorted finds: ${infra.reason}`);
else {
  describe('finds sorted by a field of values of every kind', () => {
    const url = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_sorted_${process.pid}_${Date.now()}`);
    let client: MongoClient;
    let coll: Collection<Document>;
    const ids = (docs: Document[]) => docs.map((d) => d._id as string);
    const nOf = (id: string) => (ascending.findIndex(([x]) => x === id) * 7) % ascending.length;
    // Null and missing are equal: among them, the second key (_id) decides.
    const inOrder = (order: 1 | -1) => {
      const classes = [['m1', 'm2', 'n1'], ...ascending.slice(3).map(([id]) => [id])];
      return (order === 1 ? classes : classes.reverse()).flat();
    };

    before(async () => {
      client = await new MongoClient(url).connect();
      coll = client.db().collection('sorted');
      await coll.createIndex({ group: 1, v: 1, _id: 1 });
      // Inserted in neither order, and a second group that the filter leaves out.
      const docs = ascending.map(([id, v], i) => ({ _id: id as unknown as ObjectId, group: 'g', n: (i * 7) % ascending.length, ...(v === undefined ? {} : { v }) }));
      await coll.insertMany([...docs.filter((_, i) => i % 2 === 1), { _id: 'x1' as unknown as ObjectId, group: 'h', v: 0 }, ...docs.filter((_, i) => i % 2 === 0)]);
    });
    after(async () => {
      await client?.db().dropDatabase();
      await client?.close();
    });

    it('orders types as MongoDB does, then values, both ways, with a filter, a skip and a limit', async () => {
      for (const order of [1, -1] as const) {
        const all = await coll.find({ group: 'g' }).sort({ v: order, _id: 1 }).toArray();
        assert.deepEqual(ids(all), inOrder(order), `order ${order}`);
        const page = await coll.find({ group: 'g' }).sort({ v: order, _id: 1 }).skip(4).limit(5).toArray();
        assert.deepEqual(ids(page), inOrder(order).slice(4, 9), `order ${order}: skip 4, limit 5`);
        const later = await coll.find({ group: 'g', v: { $gt: 0 } }).sort({ v: order, _id: 1 }).limit(2).toArray();
        assert.deepEqual(ids(later), order === 1 ? ['d2', 'i2'] : ['l1', 'i2'], `order ${order}: numbers above 0`);
      }
      // Two keys, the first equal for all: the second decides.
      assert.deepEqual(ids(await coll.find({ group: 'g' }).sort({ group: 1, n: -1 }).limit(3).toArray()), ids(await coll.find({ group: 'g' }).toArray()).sort((a, b) => nOf(b) - nOf(a)).slice(0, 3));
    });

    it('matches an $or of equalities and comparisons by type, as the page after a place asks', async () => {
      const find = async (filter: Document) => ids(await coll.find({ group: 'g', ...filter }).sort({ v: 1, _id: 1 }).toArray());
      // A comparison matches values of its own type only: no null, string, date or boolean above 2.5.
      assert.deepEqual(await find({ $or: [{ v: { $gt: 2.5 } }, { v: 'a' }] }), ['i2', 'l1', 's3']);
      assert.deepEqual(await find({ $or: [{ v: { $lt: 'b' } }] }), ['s1', 's2', 's3', 's4']);
      assert.deepEqual(await find({ $or: [{ v: { $gte: -3, $lt: 0 } }, { v: 5 }] }), ['i1', 'd1', 'i2']);
      assert.deepEqual(await find({ $or: [{ v: 2 ** 40 }, { v: { $lte: -3 } }] }), ['i1', 'l1']);
      // The page after ('a', 's3') in {v, _id} order, among strings.
      assert.deepEqual(await find({ $or: [{ v: { $gt: 'a' } }, { v: 'a', _id: { $gt: 's3' } }] }), ['s4', 's5', 's6']);
      assert.deepEqual(await find({ $or: [{ v: { $gt: 'a' } }, { v: 'a', _id: { $gte: 's3' } }] }), ['s3', 's4', 's5', 's6']);
      // Conditions it does not narrow (a date, $ne) are matched all the same.
      assert.deepEqual(await find({ $or: [{ v: { $gt: new Date(5_000) } }, { v: { $ne: null, $lt: -1 } }] }), ['i1', 't2']);
      // An array matches by one of its elements.
      await coll.insertOne({ _id: 'a1' as unknown as ObjectId, group: 'g', n: 98, v: [10, 'zz'] });
      try {
        assert.deepEqual(await find({ $or: [{ v: { $gt: 3 } }] }), ['i2', 'a1', 'l1']);
        assert.deepEqual(await find({ $or: [{ v: 'zz' }, { v: -3 }] }), ['i1', 'a1']);
      } finally {
        await coll.deleteOne({ _id: 'a1' as unknown as ObjectId });
      }
    });

    it('orders them alike when a document of the list holds a value of another kind (an embedded document sorts between strings and ObjectIds)', async () => {
      await coll.insertOne({ _id: 'e1' as unknown as ObjectId, group: 'g', n: 99, v: { a: 1 } });
      try {
        const asc = inOrder(1);
        asc.splice(asc.indexOf('o1'), 0, 'e1');
        assert.deepEqual(ids(await coll.find({ group: 'g' }).sort({ v: 1, _id: 1 }).toArray()), asc);
        assert.deepEqual(ids(await coll.find({ group: 'g' }).sort({ v: -1, _id: 1 }).limit(12).toArray()), [...asc].reverse().slice(0, 12));
      } finally {
        await coll.deleteOne({ _id: 'e1' as unknown as ObjectId });
      }
    });
  });
}
