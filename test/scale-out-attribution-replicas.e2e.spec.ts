// Two replicas of `opal serve attribution` on Kafka + MongoDB, each with its own data folder, as
// two pods of the Helm chart: the consumer groups split the partitions between them, so one builds
// a version's index while the other writes receipts against it too.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventCatalog } from '@opal/contracts';
import { MongoContentStore } from '@opal/document-store-mongo';
import type { NewEvent } from '@opal/event-log';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { ServeProcess } from './scale-out/serve-process.js';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { brokers, scenario, skip, platformLog } from './scale-out/fault-kit.js';

const event = (type: string, message: object): NewEvent => ({ type, payload: eventCatalog.get(type)!.encode(message), occurredAt: 1_700_000_000_000 });
const words = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `w${(seed * 7919 + i * 104729) % 9973}`).join(' ');
const INFERENCES = 30;

/** Resolves once the consumer group is stable with `n` members, each holding partitions. */
async function untilMembers(groupId: string, n: number, timeoutMs = 60_000): Promise<void> {
  const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    for (const deadline = Date.now() + timeoutMs; ; ) {
      const [group] = (await admin.describeGroups([groupId])).groups;
      const holding = (group?.members ?? []).filter((m) => {
        const assigned = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        return Object.values(assigned?.assignment ?? {}).some((partitions) => partitions.length > 0);
      });
      if (group?.state === 'Stable' && holding.length === n) return;
      if (Date.now() > deadline) throw new Error(`group ${groupId}: ${holding.length} of ${n} members after ${timeoutMs} ms (${group?.state})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}

describe('attribution scaled out: two replicas share the work', { skip, timeout: 300_000 }, () => {
  const s = scenario('attribution-replicas');
  const dirs = [0, 1].map((i) => mkdtempSync(join(tmpdir(), `opal-attr-replica-${i}-`)));
  const replicas = dirs.map((dir) => new ServeProcess('attribution', { ...s.env, OPAL_DATA_DIR: dir }));
  after(async () => {
    for (const r of replicas) await r.kill();
    await dropDb(s.url).catch(() => {});
    await deleteTopics(brokers, s.prefix).catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it(`writes a receipt for each of ${INFERENCES} inferences, and each replica uses the index one of them built`, async () => {
    const texts = Array.from({ length: 8 }, (_, i) => words(i + 1, 80));
    const content = await MongoContentStore.connect({ url: s.url });
    const entries = [];
    try {
      for (const [i, t] of texts.entries()) {
        const hash = createHash('sha256').update(t).digest('hex');
        await content.put(hash, Buffer.from(t));
        entries.push({ contributionId: `c${i}`, contentHash: `0x${hash}`, contributor: `0x${String(i).padStart(40, '0')}` });
      }
    } finally {
      await content.close();
    }
    const log = await platformLog(brokers, s.prefix);
    try {
      await log.append('datanet-net', [event('opal.ingest.v1.DatanetVersionPublished', { datanetId: 'net', version: 1, carried: 0, entries, merkleRoot: '0x', totalBytes: 1000n })], { expectedVersion: 'no_stream', producer: 'ingest' });
      for (const r of replicas) await r.start();
      // Both receipt writers hold partitions before the inferences come, so both write receipts
      // (else the first one to join could write them all before the group rebalances).
      await untilMembers(`${s.prefix}attribution.receipt-writer`, replicas.length);
      for (let k = 0; k < INFERENCES; k++) {
        const quoted = texts[k % texts.length]!.split(' ').slice(5, 25).join(' ');
        const completed = event('opal.inference.v1.InferenceCompleted', {
          inferenceId: `r${k}`, tenant: 't', adapterId: 'ad', baseModelId: 'b', datanetVersions: ['net@1'], outputText: `so ${quoted} then`, retrievedContributions: [], usage: undefined, fee: undefined, adapterOwner: '0x0',
        });
        await log.append(`inference-r${k}`, [completed], { expectedVersion: 'no_stream', producer: 'inference' });
      }
      const missing = async () => {
        const out: number[] = [];
        for (let k = 0; k < INFERENCES; k++) if ((await log.streamVersion(`attribution-r${k}`)) === 0) out.push(k);
        return out;
      };
      const deadline = Date.now() + 120_000;
      let left = await missing();
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        left = await missing();
      }
      assert.deepEqual(left, [], 'inferences without a receipt');
      for (let k = 0; k < INFERENCES; k++) {
        const [receipt] = await log.readStream(`attribution-r${k}`);
        const data = eventCatalog.get(receipt!.type)!.decode(receipt!.payload) as { weights: { contributor: string }[] };
        assert.deepEqual(data.weights.map((w) => w.contributor), [entries[k % texts.length]!.contributor], `r${k} credits the quoted contribution`);
      }
      // Both replicas wrote receipts, so both hold the index: one built it, the other its copy.
      for (const dir of dirs) assert.ok(existsSync(join(dir, 'indexes', 'net@1', 'manifest.json')), `${dir} holds the index`);
    } finally {
      await log.close();
    }
  });
});
