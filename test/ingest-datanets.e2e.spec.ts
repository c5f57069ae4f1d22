import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { manifestRoot } from '@opal/ingest';
import { OpalProcess, runOpal, call, clientStream, grpcClient, signContribution, signReview, wallet, perturb, rng, text, vocabulary } from '@opal/testkit';

const enc = new TextEncoder();

describe('Datanets end to end over gRPC', () => {
  let dir: string;
  let node: OpalProcess;
  let ingest: any;
  let admin: any;
  const owner = wallet(0).address;
  const validator = wallet(1);
  const datanetId = 'medical-notes';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-e2e-'));
    node = new OpalProcess(dir);
    await node.start();
    ingest = grpcClient(node.url, 'ingest');
    admin = grpcClient(node.url, 'admin');
  });
  after(async () => {
    ingest?.close();
    admin?.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const digest = async () => (await call(admin, 'getStateDigest', {})) as { digest: string; logEvents: string };

  it('creates a Datanet and refuses bad fields by name', async () => {
    const res = await call(ingest, 'createDatanet', {
      datanetId,
      name: 'Medical notes',
      description: 'De-identified clinical notes',
      tags: ['medical', 'EN'],
      dataKind: 'text',
      license: 'CC-BY-4.0',
      owner,
      policy: { maxItemBytes: 4096, nearDuplicatePpm: 800_000 },
    });
    assert.equal(res.datanetId, datanetId);
    await assert.rejects(call(ingest, 'createDatanet', { name: 'x', dataKind: 'text', license: 'MIT', owner: '0x12' }), (e: any) => e.code === status.INVALID_ARGUMENT && /owner/.test(e.details));
    await assert.rejects(call(ingest, 'createDatanet', { name: 'x', dataKind: 'csv', license: 'MIT', owner }), (e: any) => e.code === status.INVALID_ARGUMENT && /data_kind/.test(e.details));
    await assert.rejects(call(ingest, 'createDatanet', { datanetId, name: 'again', dataKind: 'text', license: 'MIT', owner }), (e: any) => e.code === status.ALREADY_EXISTS);
  });

  it('takes 1,000 signed contributions in one stream and rejects each bad one with its reason, changing nothing else', async () => {
    const r = rng(42);
    const vocab = vocabulary(5000);
    const contributors = Array.from({ length: 10 }, (_, i) => wallet(100 + i));
    type Item = { request: object; expect: { status: string; reason?: string } };
    const items: Item[] = [];
    const accepted: { content: Uint8Array; w: (typeof contributors)[number]; nonce: bigint; request: object }[] = [];
    const nonces = new Map<string, bigint>();
    const nextNonce = (addr: string) => {
      const n = (nonces.get(addr) ?? 0n) + 1n;
      nonces.set(addr, n);
      return n;
    };
    const signed = async (w: (typeof contributors)[number], content: Uint8Array, signer = w) => {
      const nonce = nextNonce(w.address);
      return { datanetId, content: Buffer.from(content), contributor: w.address, nonce: nonce.toString(), signature: await signContribution(signer, datanetId, content, nonce) };
    };
    for (let i = 0; i < 1000; i++) {
      const w = contributors[i % contributors.length]!;
      if (i % 100 === 17 && accepted.length > 0) {
        // exact duplicate of an earlier accepted item, sent by another contributor
        const src = accepted[Math.floor(r() * accepted.length)]!;
        items.push({ request: await signed(w, src.content), expect: { status: 'REJECTED', reason: 'DUPLICATE' } });
      } else if (i % 100 === 29 && accepted.length > 0) {
        const src = accepted[Math.floor(r() * accepted.length)]!;
        const near = enc.encode(perturb(r, new TextDecoder().decode(src.content), vocab, 3));
        items.push({ request: await signed(w, near), expect: { status: 'REJECTED', reason: 'NEAR_DUPLICATE' } });
      } else if (i === 500) {
        items.push({ request: await signed(w, enc.encode(text(r, vocab, 5000))), expect: { status: 'REJECTED', reason: 'TOO_LARGE' } });
      } else if (i === 501) {
        items.push({ request: await signed(w, new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x20, 0xc3])), expect: { status: 'REJECTED', reason: 'INVALID_UTF8' } });
      } else if (i === 502) {
        items.push({ request: await signed(w, enc.encode(text(r, vocab, 1024)), wallet(999)), expect: { status: 'REJECTED', reason: 'BAD_SIGNATURE' } });
      } else if (i === 503) {
        items.push({ request: accepted[3]!.request, expect: { status: 'REJECTED', reason: 'NONCE_REPLAYED' } });
      } else {
        const content = enc.encode(text(r, vocab, 1024));
        const request = await signed(w, content);
        items.push({ request, expect: { status: 'ACCEPTED' } });
        accepted.push({ content, w, nonce: BigInt((request as any).nonce), request });
      }
    }
    const res = await clientStream(ingest, 'submitContributions', items.map((x) => x.request));
    assert.equal(res.results.length, 1000);
    res.results.forEach((got: any, i: number) => {
      assert.equal(got.status, items[i]!.expect.status, `item ${i}: ${JSON.stringify(got)}`);
      if (items[i]!.expect.reason) assert.equal(got.reason, items[i]!.expect.reason, `item ${i}: ${got.detail}`);
    });
    assert.equal(res.accepted, accepted.length);
    const dups = res.results.filter((x: any) => x.reason === 'DUPLICATE' || x.reason === 'NEAR_DUPLICATE');
    assert.ok(dups.every((x: any) => x.duplicateOf.startsWith('0x')), 'duplicates name the original');

    // Bad requests leave the state and the log exactly as they were.
    const before = await digest();
    const replay = accepted[5]!.request;
    await assert.rejects(call(ingest, 'submitContribution', replay), (e: any) => e.code === status.ALREADY_EXISTS && /nonce/.test(e.details));
    const forged = { ...(accepted[6]!.request as any), content: Buffer.from('tampered content') };
    await assert.rejects(call(ingest, 'submitContribution', forged), (e: any) => e.code === status.UNAUTHENTICATED && /signature/.test(e.details));
    await assert.rejects(call(ingest, 'submitContribution', { ...forged, signature: Buffer.alloc(3) }), (e: any) => e.code === status.INVALID_ARGUMENT && /signature/.test(e.details));
    await assert.rejects(call(ingest, 'submitContribution', { ...forged, datanetId: 'no-such-net' }), (e: any) => e.code === status.NOT_FOUND && /datanet_id/.test(e.details));
    // Reads with an id missing or malformed name the field, as commands do, rather than look it up.
    await assert.rejects(call(ingest, 'getDatanet', {}), (e: any) => e.code === status.INVALID_ARGUMENT && /^datanet_id: required/.test(e.details));
    await assert.rejects(call(ingest, 'getVersionManifest', {}), (e: any) => e.code === status.INVALID_ARGUMENT && /^datanet_id: required/.test(e.details));
    await assert.rejects(call(ingest, 'getContribution', { contributionId: 'xyz' }), (e: any) => e.code === status.INVALID_ARGUMENT && /^contribution_id: must be 0x and 64 hex digits/.test(e.details));
    await assert.rejects(call(ingest, 'getContribution', { contributionId: `0x${'0'.repeat(64)}` }), (e: any) => e.code === status.NOT_FOUND && /^contribution_id: no contribution/.test(e.details));
    const afterBad = await digest();
    assert.deepEqual(afterBad, before);

    const stats = await call(ingest, 'getContributorStats', { contributor: contributors[0]!.address });
    assert.equal(stats.submitted, stats.accepted + stats.rejected);
    assert.ok(stats.acceptanceRatePpm > 900_000 && stats.acceptanceRatePpm <= 1_000_000);
    const list = await call(ingest, 'listContributions', { contributor: contributors[0]!.address, limit: 1000 });
    assert.equal(list.total, stats.submitted);
    const board = await call(ingest, 'getLeaderboard', { datanetId, limit: 3 });
    assert.equal(board.entries.length, 3);
    assert.ok(board.entries[0].accepted >= board.entries[1].accepted);
  });

  it('pages contributions with next_page_token as with offsets, and refuses a token of another list by name', async () => {
    const whole = await call(ingest, 'listContributions', { datanetId, limit: 1000 });
    assert.ok(whole.total > 500 && whole.contributions.length === whole.total);
    assert.equal(whole.nextPageToken, '', 'one page holds them all: no next page');
    const ids = (cs: any[]) => cs.map((c) => c.contributionId);
    const paged: string[] = [];
    let token = '';
    for (let pages = 0; pages < 20; pages++) {
      const page = await call(ingest, 'listContributions', { datanetId, limit: 97, pageToken: token });
      assert.equal(page.total, whole.total);
      paged.push(...ids(page.contributions));
      token = page.nextPageToken;
      if (!token) break;
    }
    assert.deepEqual(paged, ids(whole.contributions));
    // A token from an offset page goes on from there; one contributor's list in one Datanet too.
    const fromOffset = await call(ingest, 'listContributions', { datanetId, limit: 10, offset: 300 });
    assert.deepEqual(ids((await call(ingest, 'listContributions', { datanetId, limit: 5, pageToken: fromOffset.nextPageToken })).contributions), ids(whole.contributions).slice(310, 315));
    const contributor = whole.contributions[0].contributor;
    const first = await call(ingest, 'listContributions', { datanetId, contributor, limit: 3 });
    const second = await call(ingest, 'listContributions', { datanetId, contributor, limit: 3, pageToken: first.nextPageToken });
    assert.deepEqual([...ids(first.contributions), ...ids(second.contributions)], ids(whole.contributions.filter((c: any) => c.contributor === contributor)).slice(0, 6));
    const refused = (field: string) => (e: any) => e.code === status.INVALID_ARGUMENT && e.details.startsWith(`${field}: `);
    await assert.rejects(call(ingest, 'listContributions', { datanetId, pageToken: 'not-a-token' }), refused('page_token'));
    await assert.rejects(call(ingest, 'listContributions', { datanetId, contributor, pageToken: fromOffset.nextPageToken }), refused('page_token'));
    await assert.rejects(call(ingest, 'listContributions', { datanetId, offset: 3, pageToken: fromOffset.nextPageToken }), refused('offset'));
  });

  it('routes contributions through validator review where the policy requires it', async () => {
    await call(ingest, 'createDatanet', {
      datanetId: 'reviewed-net',
      name: 'Reviewed',
      dataKind: 'jsonl',
      jsonSchema: JSON.stringify({ type: 'object', required: ['q', 'a'], properties: { q: { type: 'string' }, a: { type: 'string' } } }),
      license: 'Apache-2.0',
      owner,
      policy: { reviewRequired: true, validators: [validator.address] },
    });
    const w = wallet(300);
    const submit = async (content: string, nonce: bigint) =>
      call(ingest, 'submitContribution', { datanetId: 'reviewed-net', content: Buffer.from(content), contributor: w.address, nonce: nonce.toString(), signature: await signContribution(w, 'reviewed-net', enc.encode(content), nonce) });
    const a = await submit('{"q":"what is opal","a":"a ledger"}\n{"q":"who pays","a":"inference fees"}', 1n);
    const b = await submit('{"q":"is it open","a":"yes"}', 2n);
    const bad = await submit('{"q":"missing answer"}', 3n);
    assert.equal(a.status, 'PENDING_REVIEW');
    assert.equal(b.status, 'PENDING_REVIEW');
    assert.equal(bad.status, 'REJECTED');
    assert.equal(bad.reason, 'SCHEMA_MISMATCH');
    const review = async (id: string, approve: boolean, by = validator) =>
      call(ingest, 'reviewContribution', { datanetId: 'reviewed-net', contributionId: id, validator: by.address, approve, comment: approve ? '' : 'off topic', signature: await signReview(by, 'reviewed-net', id, approve) });
    await assert.rejects(review(a.contributionId, true, wallet(301)), (e: any) => e.code === status.PERMISSION_DENIED);
    assert.equal((await review(a.contributionId, true)).status, 'ACCEPTED');
    assert.equal((await review(b.contributionId, false)).status, 'REJECTED');
    await assert.rejects(review(a.contributionId, true), (e: any) => e.code === status.FAILED_PRECONDITION);
    const got = await call(ingest, 'getContribution', { contributionId: b.contributionId });
    assert.equal(got.status, 'REJECTED');
    assert.equal(got.reason, 'REVIEW_DECLINED');
    const content = await call(ingest, 'getContent', { contentHash: a.contentHash });
    assert.match(Buffer.from(content.content).toString(), /what is opal/);
    // Each list's total counts its contributions once, whatever became of them: accepted after
    // review, declined, rejected at submission. The read models follow the log: ask until they have.
    const lists = [{ datanetId: 'reviewed-net' }, { contributor: w.address }, { datanetId: 'reviewed-net', contributor: w.address }];
    for (let tries = 1; ; tries++) {
      const got = await Promise.all(lists.map((l) => call(ingest, 'listContributions', l)));
      const shown = got.map((r) => [r.total, r.contributions.map((c: any) => c.status).sort()]);
      if (shown.every((x) => JSON.stringify(x) === JSON.stringify([3, ['ACCEPTED', 'REJECTED', 'REJECTED']]))) break;
      assert.ok(tries < 200, `the lists of reviewed-net and of its contributor: ${JSON.stringify(shown)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  });

  it('publishes an immutable version whose manifest root anyone can recompute', async () => {
    const v = await call(ingest, 'publishVersion', { datanetId });
    assert.equal(v.version, 1);
    const m = await call(ingest, 'getVersionManifest', { datanetId, version: 1 });
    assert.equal(m.entries.length, v.contributions);
    assert.equal(m.merkleRoot, v.merkleRoot);
    assert.equal(manifestRoot(m.entries), m.merkleRoot);
    await assert.rejects(call(ingest, 'publishVersion', { datanetId }), (e: any) => e.code === status.FAILED_PRECONDITION);
    const dn = await call(ingest, 'getDatanet', { datanetId });
    assert.equal(dn.latestVersion, 1);

    // Version 2: version 1's manifest and the contribution accepted since, whole in every answer
    // (its event lists only the new one); version 1 stays as it was.
    const late = wallet(250);
    const body = enc.encode('a contribution accepted after version one, about triage notes in emergency rooms');
    const added = await call(ingest, 'submitContribution', { datanetId, content: Buffer.from(body), contributor: late.address, nonce: '1', signature: await signContribution(late, datanetId, body, 1n) });
    assert.equal(added.status, 'ACCEPTED');
    const v2 = await call(ingest, 'publishVersion', { datanetId });
    assert.equal(v2.version, 2);
    assert.equal(v2.contributions, v.contributions + 1);
    const m2 = await call(ingest, 'getVersionManifest', { datanetId, version: 2, limit: 20_000 });
    assert.deepEqual(m2.entries.slice(0, m.entries.length), m.entries);
    assert.equal(m2.entries.at(-1).contributionId, added.contributionId);
    assert.equal(manifestRoot(m2.entries), v2.merkleRoot);
    assert.deepEqual((await call(ingest, 'getVersionManifest', { datanetId, version: 1 })).entries, m.entries);
    const tail = await call(ingest, 'getVersionManifest', { datanetId, version: 2, offset: m.entries.length - 1, limit: 2 });
    assert.deepEqual(tail.entries, m2.entries.slice(-2));
  });

  it('lists Datanets a page at a time in id order, all of them or those with a tag, with the total', async () => {
    for (let i = 0; i < 12; i++) {
      const tags = i % 2 === 0 ? ['listed', 'even'] : ['listed'];
      await call(ingest, 'createDatanet', { datanetId: `list-${String(i).padStart(2, '0')}`, name: `List ${i}`, tags, dataKind: 'text', license: 'MIT', owner });
    }
    const ids = (r: any) => r.datanets.map((d: any) => d.datanetId);
    const listed = Array.from({ length: 12 }, (_, i) => `list-${String(i).padStart(2, '0')}`);
    const pages = [];
    for (let offset = 0; offset < 15; offset += 5) pages.push(await call(ingest, 'listDatanets', { tag: 'listed', limit: 5, offset }));
    assert.deepEqual(pages.map((p) => p.total), [12, 12, 12]);
    assert.deepEqual(pages.flatMap(ids), listed);
    const even = await call(ingest, 'listDatanets', { tag: ' Even ' });
    assert.deepEqual([even.total, ids(even)], [6, listed.filter((_, i) => i % 2 === 0)]);
    assert.deepEqual(ids(await call(ingest, 'listDatanets', { tag: 'medical' })), [datanetId]);
    assert.deepEqual(await call(ingest, 'listDatanets', { tag: 'none-has-it' }), { datanets: [], total: 0 });
    const all = await call(ingest, 'listDatanets', {});
    assert.equal(all.total, all.datanets.length, 'the default page holds every Datanet of this node');
    assert.deepEqual(ids(all), [...ids(all)].sort());
    assert.ok(ids(all).includes(datanetId) && listed.every((id) => ids(all).includes(id)));
    assert.deepEqual(ids(await call(ingest, 'listDatanets', { limit: 2, offset: all.total - 1 })), [ids(all).at(-1)]);
  });

  it('opal replay rebuilds the same state digest as the live projections, and a restart keeps it', async () => {
    // Publishing makes the attribution service build an index and append AttributionIndexBuilt:
    // wait for that reaction, so the log is quiet while the live and replayed digests are compared.
    const attribution = grpcClient(node.url, 'attribution');
    for (let i = 0; i < 200 && (await call(attribution, 'listIndexes', { datanetId })).indexes.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    attribution.close();
    const live = await digest();
    const replay = await runOpal(['replay', '--json'], { OPAL_DATA_DIR: dir });
    assert.equal(replay.code, 0, replay.stderr);
    const r = JSON.parse(replay.stdout);
    assert.equal(r.digest, live.digest);
    const threaded = await runOpal(['replay', '--json', '--workers', '2'], { OPAL_DATA_DIR: dir });
    assert.equal(JSON.parse(threaded.stdout).digest, live.digest, 'projections rebuilt on two threads give the same digest');
    assert.equal(String(r.events), live.logEvents);
    await node.stop();
    await node.start();
    ingest.close();
    admin.close();
    ingest = grpcClient(node.url, 'ingest');
    admin = grpcClient(node.url, 'admin');
    assert.equal((await digest()).digest, live.digest);
  });
});
