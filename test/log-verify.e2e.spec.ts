import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});
