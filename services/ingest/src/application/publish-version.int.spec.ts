import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddedEventLog, MAX_PAYLOAD_BYTES } from '@opal/event-log';
import { MAX_VERSION_ENTRIES } from '../domain/datanet.decider.js';
import { datanetStream, type IngestEvent, type ManifestEntry } from '../domain/ingest.events.js';
import { ingestCodec, DatanetRepository } from './datanet.repository.js';
import { manifestRoot, PublishVersionHandler } from './publish-version.handler.js';

// A Datanet that accepted more than one version may add since its last version (a bulk import):
// publishing splits it into consecutive versions, each event under the log's record limit.
describe('PublishVersionHandler past the entries one version may add', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-publish-'));
  const datanetId = 'bulk';
  const total = MAX_VERSION_ENTRIES + 10_000;
  const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;
  const entries: ManifestEntry[] = Array.from({ length: total }, (_, i) => ({ contributionId: hex(i + 1, 64), contentHash: hex(i + 7, 64), contributor: hex(i % 113, 40) }));
  let log: EmbeddedEventLog;

  before(async () => {
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    const created: IngestEvent = { type: 'DatanetCreated', data: { datanetId, name: 'Bulk', description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: '0xowner', policy: { maxItemBytes: 4096, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 0, validators: [] } } };
    await log.append(datanetStream(datanetId), [ingestCodec.encode(created, 1)], { expectedVersion: 'no_stream', producer: 'ingest' });
    for (let at = 0; at < total; at += 10_000) {
      const accepted = entries.slice(at, at + 10_000).map((e, k) => ingestCodec.encode({ type: 'ContributionAccepted', data: { datanetId, ...e, sizeBytes: 100 + ((at + k) % 3) } }, 2));
      await log.append(datanetStream(datanetId), accepted, { expectedVersion: at + 1, producer: 'ingest' });
    }
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`publishes ${total} new contributions as versions of at most ${MAX_VERSION_ENTRIES} new entries, and answers with the last`, async () => {
    const handler = new PublishVersionHandler(new DatanetRepository(log), { now: () => 3 });
    const published = await handler.execute(datanetId);
    assert.deepEqual({ version: published.version, contributions: published.contributions }, { version: 2, contributions: total });
    assert.equal(published.merkleRoot, manifestRoot(entries));

    const versions = (await log.readStream(datanetStream(datanetId), total + 2)).map((s) => ({ size: s.payload.length, e: ingestCodec.decode(s)! }));
    assert.deepEqual(versions.map((v) => v.e.type), ['DatanetVersionPublished', 'DatanetVersionPublished']);
    const [v1, v2] = versions.map((v) => (v.e.type === 'DatanetVersionPublished' ? v.e.data : undefined));
    assert.deepEqual([v1!.version, v1!.carried, v1!.entries.length], [1, 0, MAX_VERSION_ENTRIES]);
    assert.deepEqual([v2!.version, v2!.carried, v2!.entries.length], [2, MAX_VERSION_ENTRIES, 10_000]);
    assert.deepEqual([...v1!.entries, ...v2!.entries], entries);
    assert.equal(v1!.merkleRoot, manifestRoot(entries.slice(0, MAX_VERSION_ENTRIES)));
    const bytes = (n: number) => entries.slice(0, n).reduce((sum, _, i) => sum + 100n + BigInt(i % 3), 0n);
    assert.deepEqual([v1!.totalBytes, v2!.totalBytes], [bytes(MAX_VERSION_ENTRIES), bytes(total)]);
    // The largest a version's event gets, with room to spare under the log's limit.
    assert.ok(versions[0]!.size < MAX_PAYLOAD_BYTES * 0.8, `${versions[0]!.size} bytes`);

    await assert.rejects(handler.execute(datanetId), /no accepted contributions since version 2/);
  });
});
