import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { MongoClient, MongoError, MongoServerError } from 'mongodb';
import { isTransient, TransientError } from '@opal/event-log';
import { MongoContentStore } from './mongo-content-store.js';
import { MongoDocumentStore } from './mongo-document-store.js';
import { unavailable } from './unavailable.js';
import { withoutCredentials } from './mongo-client.js';

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('MongoDocumentStore with the server away', () => {
  it('fails a projection read or write with a TransientError (waited out, not poison), the driver error as its cause', async () => {
    const url = `mongodb://127.0.0.1:${await closedPort()}/away?serverSelectionTimeoutMS=200`;
    const client = new MongoClient(url);
    const store = await MongoDocumentStore.connect({ url, client });
    try {
      const content = await MongoContentStore.connect({ url, client });
      for (const call of [() => store.getGuarded('c', ['a']), () => store.commitGuarded('p', [], { cursor: {}, streams: {}, applied: 0 }), () => store.loadCheckpoint('p'), () => content.get('ab'.repeat(32))]) {
        await assert.rejects(call(), (e: unknown) => e instanceof TransientError && isTransient(e) && e.cause instanceof MongoError && /mongodb unavailable/.test(e.message));
      }
    } finally {
      await client.close();
    }
  });

  it('names the server it could not reach at connect, without the credentials in its URL', async () => {
    const port = await closedPort();
    const url = `mongodb://opal:s3cret@127.0.0.1:${port}/away?serverSelectionTimeoutMS=200`;
    await assert.rejects(MongoDocumentStore.connect({ url }), (e: unknown) => {
      assert.ok(e instanceof TransientError, String(e));
      assert.match(e.message, new RegExp(`^mongodb at mongodb://127\\.0\\.0\\.1:${port}/away\\?serverSelectionTimeoutMS=200: `));
      assert.doesNotMatch(e.message, /s3cret/);
      return true;
    });
    assert.equal(withoutCredentials('mongodb+srv://u:p@cluster.example/db'), 'mongodb+srv://cluster.example/db');
    assert.equal(withoutCredentials('mongodb://h:1/db'), 'mongodb://h:1/db');
  });

  it('leaves every other error as it is (a duplicate key is a conflict, not an outage)', () => {
    const duplicate = new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key' });
    assert.equal(unavailable(duplicate), duplicate);
    const bug = new TypeError('x is undefined');
    assert.equal(unavailable(bug), bug);
  });
});
