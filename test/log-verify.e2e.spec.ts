import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { EmbeddedEventLog, exportLog, verifyExport } from '@opal/event-log';
import { ingestCodec } from '@opal/ingest';
import { runOpal } from '@opal/testkit';

describe('opal log verify', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-verify-'));
  const file = join(dir, 'export.jsonl');
  let lines: string[];

  before(async () => {
    const log = await EmbeddedEventLog.open(join(dir, 'data', 'log'));
    for (let s = 0; s < 3; s++) {
      const events = Array.from({ length: 10 }, (_, i) =>
        ingestCodec.encode(
          { type: 'ContributionAccepted', data: { datanetId: `net-${s}`, contributionId: `0x${String(i).padStart(64, '0')}`, contributor: '0x1111111111111111111111111111111111111111', contentHash: `0x${'ab'.repeat(32)}`, sizeBytes: 100 + i } },
          1_700_000_000_000 + i,
        ),
      );
      for (const e of events) await log.append(`datanet-net-${s}`, [e], { expectedVersion: 'any', producer: 'ingest' });
    }
    await exportLog(log, file);
    await log.close();
    lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tampered = (name: string, ls: string[]) => {
    const p = join(dir, name);
    writeFileSync(p, ls.join('\n') + '\n');
    return p;
  };

  it('accepts the untouched export, through the CLI', async () => {
    const r = await runOpal(['log', 'verify', file], {});
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /ok: 30 events in 3 streams/);
  });

  it('detects a single flipped byte anywhere in an event and names that event', async () => {
    const original = readFileSync(file);
    const firstEvent = original.indexOf('\n') + 1;
    const lastEvent = original.lastIndexOf('\n', original.length - 2);
    let checked = 0;
    for (let at = firstEvent; at < lastEvent; at += 37) {
      if (original[at] === 0x0a) continue;
      const copy = Buffer.from(original);
      copy[at] ^= 0x01;
      const p = join(dir, 'flipped.jsonl');
      writeFileSync(p, copy);
      const r = await verifyExport(p);
      const line = original.subarray(0, at).toString().split('\n').length;
      assert.equal(r.ok, false, `flip at byte ${at} went unnoticed`);
      if (!r.ok) assert.equal(r.line, line, `flip at byte ${at} blamed line ${r.line}: ${r.error}`);
      checked++;
    }
    assert.ok(checked > 100);
    const cli = await runOpal(['log', 'verify', join(dir, 'flipped.jsonl')], {});
    assert.equal(cli.code, 1);
    assert.match(cli.stdout, /FAILED/);
  });

  it('accepts an export written before a field was added to its event (its data lacks that key), and no other missing field', async () => {
    const older = mkdtempSync(join(dir, 'older-'));
    const log = await EmbeddedEventLog.open(join(older, 'log'));
    // As an event written before size_bytes and contributor existed decodes now: both at their defaults.
    const e = ingestCodec.encode({ type: 'ContributionAccepted', data: { datanetId: 'net-old', contributionId: `0x${'0'.repeat(64)}`, contributor: '', contentHash: `0x${'cd'.repeat(32)}`, sizeBytes: 0 } }, 1_600_000_000_000);
    await log.append('datanet-net-old', [e], { expectedVersion: 'no_stream', producer: 'ingest' });
    await exportLog(log, join(older, 'now.jsonl'));
    await log.close();
    const ls = readFileSync(join(older, 'now.jsonl'), 'utf8').trimEnd().split('\n');
    const withData = (edit: (data: Record<string, unknown>) => void) => {
      const event = JSON.parse(ls[1]!) as { data: Record<string, unknown> };
      edit(event.data);
      return [ls[0]!, JSON.stringify(event), ...ls.slice(2)];
    };
    const written = withData((d) => {
      delete d['sizeBytes'];
      delete d['contributor'];
    });
    const asWritten = await verifyExport(join(older, 'now.jsonl'));
    assert.equal(asWritten.ok, true);
    assert.deepEqual(await verifyExport(tampered('older.jsonl', written)), asWritten, 'the same events, digests and streams');
    const dropped = await verifyExport(tampered('dropped.jsonl', withData((d) => delete d['datanetId'])));
    assert.equal(dropped.ok, false, 'a field with a value is not a field added since');
    if (!dropped.ok) assert.match(dropped.error, /data does not match the payload/);
    const renamed = await verifyExport(tampered('renamed.jsonl', withData((d) => (d['sizeBites'] = 0))));
    assert.equal(renamed.ok, false, 'a key the event does not have');
  });

  it('refuses an export version it does not read, and a line that is no JSON object, naming the line', async () => {
    const header = JSON.parse(lines[0]!) as Record<string, unknown>;
    const r = await verifyExport(tampered('version.jsonl', [JSON.stringify({ ...header, version: 99 }), ...lines.slice(1)]));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /line 1: export version 99; this release reads version 1/);
    const n = await verifyExport(tampered('null.jsonl', [lines[0]!, 'null', ...lines.slice(1)]));
    assert.equal(n.ok, false);
    if (!n.ok) assert.match(n.error, /line 2 is not a JSON object/);
  });

  it('detects a deleted event', async () => {
    const ls = [...lines];
    ls.splice(12, 1);
    const r = await verifyExport(tampered('deleted.jsonl', ls));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.line, 13, 'the line after the gap');
      assert.match(r.error, /position/);
    }
    const last = [...lines];
    last.splice(last.length - 2, 1);
    const r2 = await verifyExport(tampered('deleted-last.jsonl', last));
    assert.equal(r2.ok, false, 'deleting the last event is caught by the trailer');
  });

  it('detects two swapped events, even when their positions are swapped back', async () => {
    const ls = [...lines];
    [ls[5], ls[6]] = [ls[6]!, ls[5]!];
    const r = await verifyExport(tampered('swapped.jsonl', ls));
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.line, 6);
    const relabelled = [...ls];
    const a = JSON.parse(relabelled[5]!);
    const b = JSON.parse(relabelled[6]!);
    [a.position, b.position] = [b.position, a.position];
    relabelled[5] = JSON.stringify(a);
    relabelled[6] = JSON.stringify(b);
    const r2 = await verifyExport(tampered('swapped2.jsonl', relabelled));
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.error, /sequence|prev_hash/);
  });

  it('gives the same streams digest for the same events in another interleaving, and checks the one in the trailer', async () => {
    const original = await verifyExport(file);
    assert.ok(original.ok);
    const trailer = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.deepEqual([trailer['streams'], trailer['streams_digest']], [3, original.streamsDigest]);
    // The third stream's events first, as another adapter may give them: positions and the
    // file-order digest are rewritten, the streams and their chains are the same.
    const events = lines.slice(1, -1).map((l) => JSON.parse(l) as { position: number; stream_id: string; hash: string });
    const reordered = [...events.filter((e) => e.stream_id === 'datanet-net-2'), ...events.filter((e) => e.stream_id !== 'datanet-net-2')];
    reordered.forEach((e, i) => (e.position = i));
    const digest = createHash('sha256');
    for (const e of reordered) digest.update(Buffer.from(e.hash, 'hex'));
    const rewritten = [lines[0]!, ...reordered.map((e) => JSON.stringify(e)), JSON.stringify({ ...trailer, digest: digest.digest('hex') })];
    const other = await verifyExport(tampered('interleaved.jsonl', rewritten));
    assert.ok(other.ok, other.ok ? '' : other.error);
    assert.notEqual(other.digest, original.digest, 'the file-order digest follows the order');
    assert.equal(other.streamsDigest, original.streamsDigest, 'the streams digest does not');

    const wrong = [...rewritten.slice(0, -1), JSON.stringify({ ...JSON.parse(rewritten.at(-1)!), streams_digest: '00'.repeat(32) })];
    const r = await verifyExport(tampered('wrong-streams-digest.jsonl', wrong));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error, /streams digest/);

    // An export written before the streams digest existed still verifies, and gets one.
    const { streams: _s, streams_digest: _d, ...older } = trailer;
    const r2 = await verifyExport(tampered('older-trailer.jsonl', [...lines.slice(0, -1), JSON.stringify(older)]));
    assert.ok(r2.ok && r2.streamsDigest === original.streamsDigest);
    const cli = await runOpal(['log', 'verify', join(dir, 'interleaved.jsonl')], {});
    assert.equal(cli.code, 0, cli.stdout);
    assert.match(cli.stdout, new RegExp(`streams digest ${original.streamsDigest}`));
  });
});
