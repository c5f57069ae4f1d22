// Two replicas of `opal serve ingest` on Kafka + MongoDB behind one address, as two pods of the
// Helm chart behind their Service: commands on one Datanet reach either replica, and each replica
// decides on the Datanet as it has it in memory.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { call, clientStream, grpcClient, rng, signContribution, text, vocabulary, wallet } from '@opal/testkit';
import { ServeProcess, waitDrained } from './scale-out/serve-process.js';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { brokers, groupsOf, scenario, skip } from './scale-out/fault-kit.js';

const SUBMISSIONS = 24;
const STREAMED = 6;
const RACED = 300;

describe('ingest scaled out: two replicas take commands on the same Datanet', { skip, timeout: 300_000 }, () => {
  const s = scenario('ingest-replicas');
  const dirs = [0, 1].map((i) => mkdtempSync(join(tmpdir(), `opal-ingest-replica-${i}-`)));
  const replicas = dirs.map((dir) => new ServeProcess('ingest', { ...s.env, OPAL_DATA_DIR: dir }));
  const clients: any[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const r of replicas) await r.kill();
    await dropDb(s.url).catch(() => {});
    await deleteTopics(brokers, s.prefix).catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it(`accepts ${SUBMISSIONS} contributions sent to the replicas in turn, and each one's state holds them all`, async () => {
    for (const r of replicas) await r.start();
    clients.push(...replicas.map((r) => grpcClient(r.url, 'ingest')));
    const datanetId = 'shared-net';
    const early = wallet(299);
    const first = Buffer.from('sent before the Datanet exists');
    const submitEarly = async () => call(clients[1], 'submitContribution', { datanetId, content: first, contributor: early.address, nonce: '1', signature: await signContribution(early, datanetId, first, 1n) });
    // The second replica learns the Datanet does not exist yet; it is then created through the first.
    await assert.rejects(submitEarly(), /datanet_id: no Datanet/);
    await call(clients[0], 'createDatanet', { datanetId, name: 'Shared', dataKind: 'text', license: 'MIT', owner: wallet(0).address, policy: { maxItemBytes: 4096 } });
    const contributors = [wallet(200), wallet(201), wallet(202)];
    for (let i = 0; i < SUBMISSIONS; i++) {
      const w = contributors[i % contributors.length]!;
      const content = Buffer.from(`item ${i}: ${Array.from({ length: 40 }, (_, k) => `word${(i * 131 + k * 17) % 5003}`).join(' ')}`);
      const nonce = BigInt(Math.floor(i / contributors.length) + 1);
      // Alternate replicas: each one's Datanet moved on by the other since it last decided.
      const res = await call(clients[i % 2], 'submitContribution', { datanetId, content, contributor: w.address, nonce: nonce.toString(), signature: await signContribution(w, datanetId, content, nonce) });
      assert.equal(res.status, 'ACCEPTED', `submission ${i}: ${JSON.stringify(res)}`);
    }
    assert.equal((await submitEarly()).status, 'ACCEPTED', 'the second replica no longer takes the Datanet for unknown');
    // A client stream to the first replica, whose Datanet the second has moved on since.
    const streamed = await Promise.all(
      Array.from({ length: STREAMED }, async (_, i) => {
        const content = Buffer.from(`streamed ${i}: ${Array.from({ length: 40 }, (_, k) => `term${(i * 977 + k * 31) % 7919}`).join(' ')}`);
        const nonce = BigInt(i + 2);
        return { datanetId, content, contributor: early.address, nonce: nonce.toString(), signature: await signContribution(early, datanetId, content, nonce) };
      }),
    );
    const batch = await clientStream(clients[0], 'submitContributions', streamed);
    assert.deepEqual(batch.results.map((r: { status: string }) => r.status), streamed.map(() => 'ACCEPTED'), JSON.stringify(batch.results.filter((r: { status: string }) => r.status !== 'ACCEPTED')));
    // A nonce replayed on the other replica is still refused: its decision saw the first use.
    const w = contributors[0]!;
    const again = Buffer.from('a different text with a used nonce');
    await assert.rejects(call(clients[1], 'submitContribution', { datanetId, content: again, contributor: w.address, nonce: '1', signature: await signContribution(w, datanetId, again, 1n) }), /nonce/);
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    for (const c of clients) assert.equal((await call(c, 'getDatanet', { datanetId })).accepted, SUBMISSIONS + 1 + STREAMED);
  });
  it(`takes two client streams of ${RACED} contributions each, one per replica, into the same Datanet at once, and loses or doubles none`, async () => {
    const datanetId = 'raced-net';
    await call(clients[0], 'createDatanet', { datanetId, name: 'Raced', dataKind: 'text', license: 'MIT', owner: wallet(0).address, policy: { maxItemBytes: 4096 } });
    // Each replica decides contributions ahead of its appends in flight; the other's appends make
    // some of those lose their race, and those are decided again on the Datanet as the log has it.
    const words = vocabulary(4000);
    const streams = await Promise.all(
      [0, 1].map(async (r) => {
        const w = wallet(300 + r);
        const random = rng(77 + r);
        return Promise.all(
          Array.from({ length: RACED }, async (_, i) => {
            const content = Buffer.from(text(random, words, 600));
            const nonce = BigInt(i + 1);
            return { datanetId, content, contributor: w.address, nonce: nonce.toString(), signature: await signContribution(w, datanetId, content, nonce) };
          }),
        );
      }),
    );
    const results = await Promise.all(streams.map((items, r) => clientStream(clients[r], 'submitContributions', items)));
    for (const [r, batch] of results.entries()) {
      const statuses = batch.results.map((x: { status: string; reason: string }) => x.status + (x.reason ? ` ${x.reason}` : ''));
      assert.deepEqual(statuses, streams[r]!.map(() => 'ACCEPTED'), `replica ${r}: ${JSON.stringify(batch.results.filter((x: { status: string }) => x.status !== 'ACCEPTED').slice(0, 3))}`);
    }
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    for (const c of clients) assert.equal((await call(c, 'getDatanet', { datanetId })).accepted, 2 * RACED);
    // The log holds each contribution once: its manifest lists every accepted one exactly once.
    const version = await call(clients[1], 'publishVersion', { datanetId });
    assert.equal(version.contributions, 2 * RACED);
  });
  it('reads on one replica with opal-consistency: latest show what the other one was just answered for', async () => {
    const datanetId = 'consistent-net';
    const latest = new Metadata();
    latest.set('opal-consistency', 'latest');
    await call(clients[0], 'createDatanet', { datanetId, name: 'Consistent', dataKind: 'text', license: 'MIT', owner: wallet(0).address, policy: { maxItemBytes: 4096 } });
    const w = wallet(240);
    let nonce = 0;
    for (let round = 1; round <= 6; round++) {
      for (let k = 0; k < 3; k++) {
        const content = Buffer.from(`round ${round} item ${k}: ${Array.from({ length: 30 }, (_, j) => `tok${(round * 7919 + k * 613 + j * 31) % 10007}`).join(' ')}`);
        nonce++;
        const res = await call(clients[0], 'submitContribution', { datanetId, content, contributor: w.address, nonce: String(nonce), signature: await signContribution(w, datanetId, content, BigInt(nonce)) });
        assert.equal(res.status, 'ACCEPTED');
      }
      const published = await call(clients[0], 'publishVersion', { datanetId });
      assert.equal(published.version, round);
      // At once, on the other replica: the Datanet as updated, the list with every contribution, the contributor's counters.
      const dn = await call(clients[1], 'getDatanet', { datanetId }, latest);
      assert.deepEqual([dn.latestVersion, dn.accepted], [round, 3 * round], `round ${round}: the Datanet read on the other replica`);
      const list = await call(clients[1], 'listContributions', { datanetId, limit: 100 }, latest);
      assert.deepEqual([list.total, list.contributions.length], [3 * round, 3 * round], `round ${round}: the list read on the other replica`);
      const stats = await call(clients[1], 'getContributorStats', { contributor: w.address }, latest);
      assert.equal(stats.accepted, 3 * round, `round ${round}: the contributor's counters`);
    }
    const bad = new Metadata();
    bad.set('opal-consistency', 'eventual-ish');
    await assert.rejects(call(clients[1], 'getDatanet', { datanetId }, bad), (e: ServiceError) => e.code === status.INVALID_ARGUMENT && /^opal-consistency: must be 'latest'/.test(e.details));
  });
});

