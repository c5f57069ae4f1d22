// A Datanet version too large for one MongoDB document (16 MiB), published on Kafka and read back
// through `opal serve ingest`'s gRPC API page by page.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { call, grpcClient } from '@opal/testkit';
import { contributionIdOf, datanetStream, ingestCodec, type IngestEvent, type ManifestEntry } from '@opal/ingest';
import { ServeProcess, waitDrained } from './scale-out/serve-process.js';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { brokers, groupsOf, scenario, skip, platformLog } from './scale-out/fault-kit.js';

// About 18 MB of entries as protobuf and 22 MB as one JSON document: past MongoDB's limit.
const ENTRIES = 100_000;

describe('a version manifest larger than a MongoDB document, scaled out', { skip, timeout: 300_000 }, () => {
  const s = scenario('large-version');
  let serve: ServeProcess | undefined;
  after(async () => {
    await serve?.kill();
    await dropDb(s.url).catch(() => {});
    await deleteTopics(brokers, s.prefix).catch(() => {});
  });

  it(`stores ${ENTRIES} entries in pages and serves them page by page over gRPC`, async () => {
    const datanetId = 'large-net';
    const entries: ManifestEntry[] = Array.from({ length: ENTRIES }, (_, i) => {
      const contributor = `0x${String(i % 97).padStart(40, '0')}`;
      return { contributionId: contributionIdOf(datanetId, contributor, BigInt(i)), contentHash: `0x${i.toString(16).padStart(64, '0')}`, contributor };
    });
    const events: IngestEvent[] = [
      { type: 'DatanetCreated', data: { datanetId, name: 'Large', description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: '0xowner', policy: { maxItemBytes: 4096, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 0, validators: [] } } },
      // The projections store the manifest as published; they do not recompute its root.
      { type: 'DatanetVersionPublished', data: { datanetId, version: 1, carried: 0, entries, merkleRoot: `0x${'ab'.repeat(32)}`, totalBytes: 123_456_789n } },
    ];
    const log = await platformLog(brokers, s.prefix);
    try {
      await log.append(datanetStream(datanetId), events.map((e, i) => ingestCodec.encode(e, 1_700_000_000_000 + i)), { expectedVersion: 'no_stream', producer: 'ingest' });
    } finally {
      await log.close();
    }

    serve = new ServeProcess('ingest', s.env);
    await serve.start();
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    const ingest = grpcClient(serve.url, 'ingest');
    try {
      // Default page (10,000), the largest (20,000) for a larger ask, and the latest version for 0.
      const first = await call(ingest, 'getVersionManifest', { datanetId, version: 0 });
      assert.equal(first.version, 1);
      assert.equal(first.contributions, ENTRIES);
      assert.equal(first.totalBytes, '123456789');
      assert.deepEqual(first.entries, entries.slice(0, 10_000));
      const capped = await call(ingest, 'getVersionManifest', { datanetId, version: 1, limit: 50_000, offset: 10_000 });
      assert.equal(capped.entries.length, 20_000);
      // A page that starts and ends inside the stored pages.
      const across = await call(ingest, 'getVersionManifest', { datanetId, version: 1, limit: 10, offset: 4090 });
      assert.deepEqual(across.entries, entries.slice(4090, 4100));
      const past = await call(ingest, 'getVersionManifest', { datanetId, version: 1, offset: ENTRIES + 5 });
      assert.deepEqual(past.entries, []);

      const all: ManifestEntry[] = [];
      while (all.length < ENTRIES) {
        const page = await call(ingest, 'getVersionManifest', { datanetId, version: 1, limit: 20_000, offset: all.length });
        assert.ok(page.entries.length > 0, `no entries at offset ${all.length}`);
        all.push(...page.entries);
      }
      assert.equal(all.length, ENTRIES);
      assert.deepEqual(all, entries);

      await assert.rejects(call(ingest, 'getVersionManifest', { datanetId, version: 2 }), (e: any) => e.code === status.NOT_FOUND && /version/.test(e.details));
    } finally {
      ingest.close();
    }
  });
});
