import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { ensureInfra } from '@opal/test-infra';
import { MongoContentStore } from './mongo-content-store.js';

const infra = await ensureInfra(['mongo']);
if (infra.skipped) console.log(`# mongo content store: ${infra.reason}`);
else {
  describe('MongoContentStore', () => {
    it('stores bytes by hash, ignores a second put, reads back exactly', async () => {
      const url = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_content_${process.pid}_${Date.now()}`);
      const client = await new MongoClient(url).connect();
      const store = await MongoContentStore.connect({ url, client });
      try {
        const bytes = new TextEncoder().encode('a contribution, with ünïcode');
        const hash = createHash('sha256').update(bytes).digest('hex');
        assert.equal(await store.get(hash), undefined);
        await store.put(`0x${hash}`, bytes);
        await store.put(hash, bytes);
        assert.deepEqual(await store.get(hash), bytes);
        assert.deepEqual(await store.get(`0x${hash.toUpperCase()}`), bytes);
      } finally {
        await client.db().dropDatabase();
        await store.close();
        await client.close();
      }
    });

    it('stores puts made together in a few insert commands, a hash put twice once, and reads each back', async () => {
      const url = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_content_many_${process.pid}_${Date.now()}`);
      const client = await new MongoClient(url, { monitorCommands: true }).connect();
      let inserts = 0;
      let finds = 0;
      client.on('commandStarted', (e) => void (e.commandName === 'insert' ? inserts++ : e.commandName === 'find' && finds++));
      const store = await MongoContentStore.connect({ url, client });
      try {
        const items = Array.from({ length: 300 }, (_, i) => new TextEncoder().encode(`contribution ${i} `.repeat(1 + (i % 50))));
        const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
        // Each twice, all at once, as the items of client streams are stored concurrently.
        await Promise.all([...items, ...items].map((b) => store.put(sha(b), b)));
        assert.ok(inserts < 30, `600 puts in ${inserts} insert commands`);
        for (const b of items) assert.deepEqual(await store.get(sha(b)), b);
        assert.equal(await client.db().collection('_content').countDocuments({}), items.length);
        // Read together, by the hashes as asked (one absent, one twice, one written otherwise).
        const missing = sha(new TextEncoder().encode('never stored'));
        const asked = [...items.map(sha), missing, sha(items[7]!), `0x${sha(items[9]!).toUpperCase()}`];
        finds = 0;
        const many = await store.getMany(asked);
        assert.ok(finds <= 5, `${asked.length} contents in ${finds} find commands`);
        assert.deepEqual([...many.keys()], asked.filter((h) => h !== missing).filter((h, i, all) => all.indexOf(h) === i));
        for (const b of items) assert.deepEqual(many.get(sha(b)), b);
        assert.deepEqual(many.get(`0x${sha(items[9]!).toUpperCase()}`), items[9]);
      } finally {
        await client.db().dropDatabase();
        await store.close();
        await client.close();
      }
    });

    it('stores a content of 16 MiB, the largest a Datanet takes, in chunks; two processes at once, a put cut short, a chunk lost', async () => {
      const url = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_content_large_${process.pid}_${Date.now()}`);
      const client = await new MongoClient(url).connect();
      const [store, peer] = [await MongoContentStore.connect({ url, client }), await MongoContentStore.connect({ url })];
      try {
        const large = new Uint8Array(16 << 20);
        for (let i = 0; i < large.length; i += 4096) large[i] = (i / 4096) % 251;
        const hash = createHash('sha256').update(large).digest('hex');
        // One document cannot hold it: MongoDB's limit is 16 MiB with the other fields.
        await Promise.all([store.put(hash, large), peer.put(hash, large)]);
        assert.ok(Buffer.from((await store.get(hash))!).equals(large), 'read back whole');
        assert.ok(Buffer.from((await peer.get(hash))!).equals(large), 'read back whole by the other process');
        assert.ok(Buffer.from((await peer.getMany([hash])).get(hash)!).equals(large), 'read back whole among others');
        assert.equal(await client.db().collection('_content').countDocuments({}), 1);
        assert.equal(await client.db().collection('_content_chunks').countDocuments({}), 4);

        // Cut short after its chunks, before its document: not there yet, and the retry completes it.
        const other = large.map((b, i) => (i === 0 ? 1 : b));
        const otherHash = createHash('sha256').update(other).digest('hex');
        await client.db().collection('_content_chunks').insertOne({ _id: `${otherHash}/0` as never, bytes: Buffer.from(other.subarray(0, 4 << 20)) });
        assert.equal(await store.get(otherHash), undefined);
        await store.put(otherHash, other);
        assert.ok(Buffer.from((await store.get(otherHash))!).equals(other));

        await client.db().collection('_content_chunks').deleteOne({ _id: `${hash}/2` as never });
        await assert.rejects(store.get(hash), new RegExp(`content ${hash}: chunk 2 of 4 is missing`));
      } finally {
        await client.db().dropDatabase();
        await peer.close();
        await store.close();
        await client.close();
      }
    });
  });
}
