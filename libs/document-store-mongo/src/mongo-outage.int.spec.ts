import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { MongoClient } from 'mongodb';
import { TransientError } from '@opal/event-log';
import { ensureInfra } from '@opal/test-infra';
import { MongoContentStore } from './mongo-content-store.js';
import { MongoDocumentStore } from './mongo-document-store.js';
import { writeErrorsOf } from './bulk-write-errors.js';

const infra = await ensureInfra(['mongo']);

/**
 * A loopback TCP relay to the server, which the test can cut: the server gone, as a crash leaves it.
 * `pause` drops every connection and refuses new ones until `resume`: the server back on its port.
 */
async function relay(target: URL): Promise<{ port: number; cut(): Promise<void>; pause(): void; resume(): void }> {
  const sockets = new Set<Socket>();
  let paused = false;
  const server: Server = createServer((client) => {
    if (paused) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
    pause() {
      paused = true;
      for (const s of sockets) s.destroy();
    },
    resume() {
      paused = false;
    },
  };
}

if (infra.skipped) console.log(`# mongo outage: ${infra.reason}`);
else {
  describe('MongoDB stores when the server goes away mid-use', () => {
    const url = new URL(infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_outage_${process.pid}_${Date.now()}`));
    let cut: () => Promise<void>;
    let client: MongoClient;
    let content: MongoContentStore;
    let store: MongoDocumentStore;
    before(async () => {
      const r = await relay(url);
      cut = r.cut;
      const through = `mongodb://127.0.0.1:${r.port}${url.pathname}?directConnection=true&serverSelectionTimeoutMS=1500`;
      client = await new MongoClient(through).connect();
      content = await MongoContentStore.connect({ url: through, client });
      store = await MongoDocumentStore.connect({ url: through, client });
    });
    after(async () => {
      await client.close().catch(() => {});
      const direct = await new MongoClient(url.href).connect();
      await direct.db().dropDatabase();
      await direct.close();
    });

    it('a content put and a read model write fail TransientError, never resolve as stored, when the connection is refused', async () => {
      const hash = (c: string) => c.repeat(64);
      await content.put(hash('a'), new TextEncoder().encode('stored while the server was there'));
      assert.ok(await content.get(hash('a')));
      await cut();
      // The driver reports the refused connection as a bulk write error without per-document errors.
      const raw = await client.db().collection('_probe').insertMany([{ _id: 'x' } as never], { ordered: false }).then(() => undefined, (e: unknown) => e);
      assert.ok(raw, 'the insert failed');
      assert.equal(writeErrorsOf(raw), undefined, 'a failed command is no list of per-document errors');
      await assert.rejects(content.put(hash('b'), new TextEncoder().encode('sent while the server was away')), (e: unknown) => e instanceof TransientError);
      await assert.rejects(store.commitGuarded('outage.p', [{ collection: 'outage_docs', id: 'd1', doc: { n: 1 }, guard: { applied: { p0: 1 }, rev: 1 }, expectedRev: 0 }], { cursor: { p0: 2 }, streams: {}, applied: 1 }), (e: unknown) => e instanceof TransientError);
    });
  });
}

if (!infra.skipped) {
  describe('MongoDB read models when the server goes away during a batch of more commands than lanes', () => {
    const url = new URL(infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, `/opal_lanes_${process.pid}_${Date.now()}`));
    let link: Awaited<ReturnType<typeof relay>>;
    let client: MongoClient;
    let direct: MongoClient;
    let store: MongoDocumentStore;
    before(async () => {
      link = await relay(url);
      const through = `mongodb://127.0.0.1:${link.port}${url.pathname}?directConnection=true&serverSelectionTimeoutMS=1500`;
      client = await new MongoClient(through).connect();
      direct = await new MongoClient(url.href).connect();
      store = await MongoDocumentStore.connect({ url: through, client });
    });
    after(async () => {
      await link.cut();
      await client.close().catch(() => {});
      await direct.db().dropDatabase();
      await direct.close();
    });

    it('remembers none of the failed batch as written: what the retry reads is what the server holds', async () => {
      // Six collections, a command each: four lanes, so two commands are never sent.
      const names = Array.from({ length: 6 }, (_, i) => `lanes_${i}`);
      const write = (id: string, seq: number) => names.map((collection) => ({ collection, id, doc: { seq }, guard: { applied: { p0: seq }, rev: 1 }, expectedRev: 0 }));
      await store.commitGuarded('lanes.p', write('first', 1), { cursor: { p0: 1 }, streams: {}, applied: 1 });
      link.pause();
      await assert.rejects(store.commitGuarded('lanes.p', write('second', 2), { cursor: { p0: 2 }, streams: {}, applied: 2 }), (e: unknown) => e instanceof TransientError);
      link.resume();
      for (const name of names) {
        const onServer = await direct.db().collection(name).countDocuments({ _id: 'second' as never });
        const read = await store.getGuarded(name, ['first', 'second']);
        assert.equal(read.has('second'), onServer === 1, `${name}: the store says 'second' is ${read.has('second') ? '' : 'not '}there; the server holds ${onServer}`);
        assert.equal(read.get('first')?.guard.rev, 1);
      }
      // The retry of the batch then writes every collection.
      await store.commitGuarded('lanes.p', write('second', 2), { cursor: { p0: 2 }, streams: {}, applied: 2 });
      for (const name of names) assert.equal(await direct.db().collection(name).countDocuments({ _id: 'second' as never }), 1, name);
    });
  });
}
