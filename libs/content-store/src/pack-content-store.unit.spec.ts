import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_HEADER } from '@opal/event-log';
import { PackContentStore } from './pack-content-store.js';

const sha = (b: Uint8Array) => '0x' + createHash('sha256').update(b).digest('hex');

describe('PackContentStore', () => {
  it('stores by hash, dedupes, survives a reopen and cuts a torn tail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-pack-'));
    try {
      let store = await PackContentStore.open(dir);
      const items = Array.from({ length: 200 }, (_, i) => Buffer.from(`contribution number ${i} `.repeat(i % 7 + 1)));
      await Promise.all(items.map((b) => store.put(sha(b), b)));
      await Promise.all(items.map((b) => store.put(sha(b), b)));
      const size = statSync(store.file).size;
      assert.deepEqual(Buffer.from((await store.get(sha(items[42]!)))!), items[42]);
      assert.equal(await store.get(sha(Buffer.from('never stored'))), undefined);
      const many = await store.getMany([sha(items[3]!), sha(Buffer.from('never stored')), sha(items[4]!)]);
      assert.deepEqual([...many.keys()], [sha(items[3]!), sha(items[4]!)]);
      assert.deepEqual(Buffer.from(many.get(sha(items[4]!))!), items[4]);
      await store.close();
      appendFileSync(join(dir, 'content.pack'), Buffer.from([50, 0, 0, 0, 9, 9]));
      store = await PackContentStore.open(dir);
      assert.equal(statSync(store.file).size, size, 'torn tail removed, no duplicate records');
      for (const b of items) assert.deepEqual(Buffer.from((await store.get(sha(b)))!), b);
      await assert.rejects(store.put('0xnothex', Buffer.from('x')), /content_hash/);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to open a pack with a damaged record in the middle, and cuts nothing off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-pack-'));
    try {
      const store = await PackContentStore.open(dir);
      for (let i = 0; i < 5; i++) {
        const b = Buffer.from(`content ${i}`);
        await store.put(sha(b), b);
      }
      await store.close();
      const file = join(dir, 'content.pack');
      const bytes = readFileSync(file);
      bytes[RECORD_HEADER + 40]! ^= 0x01; // inside the first record's content
      writeFileSync(file, bytes);
      await assert.rejects(PackContentStore.open(dir), /content pack .*record 0 \(byte 0\) is damaged/);
      assert.equal(statSync(file).size, bytes.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens read-only beside the store that writes it: reads what was written, leaves a tail being written, writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-pack-'));
    try {
      assert.equal(await PackContentStore.openReadOnly(join(dir, 'none')).get(sha(Buffer.from('x'))), undefined, 'no pack: an empty store');
      const writing = await PackContentStore.open(dir);
      const a = Buffer.from('the first contribution, stored whole');
      await writing.put(sha(a), a);
      const size = statSync(writing.file).size;
      // A record half written when the reader opens.
      appendFileSync(writing.file, Buffer.alloc(10, 7));
      const reader = PackContentStore.openReadOnly(dir);
      assert.deepEqual(Buffer.from((await reader.get(sha(a)))!), a);
      await assert.rejects(reader.put(sha(Buffer.from('b')), Buffer.from('b')), /opened read-only/);
      await reader.close();
      assert.equal(statSync(writing.file).size, size + 10, 'the reader cut nothing');
      await writing.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
