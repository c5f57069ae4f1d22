import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ensureInfra, freePort, infraScript } from '@opal/test-infra';
import { computeEventHash, equalBytes, GENESIS_HASH } from '@opal/event-log';
import { KafkaEventLog } from './kafka-event-log.adapter.js';

// Restarts a broker while writers and a subscription run. The broker is a private instance on free
// ports (its own pid files, data and logs), so test files sharing the usual broker are not disturbed.
const infra = await ensureInfra(['kafka']);
const reason = infra.skipped ? infra.reason : infra.mode !== 'local' ? `restarting a broker needs the local servers (mode ${infra.mode})` : undefined;

describe('kafka event log across a broker crash and restart', { skip: reason }, () => {
  const instance = `restart-${process.pid}`;
  const env: Record<string, string> = { OPAL_INFRA_INSTANCE: instance };
  let brokers: string[] = [];
  let instanceDir = '';
  before(async () => {
    env.OPAL_KAFKA_PORT = String(await freePort());
    env.OPAL_KAFKA_CONTROLLER_PORT = String(await freePort());
    brokers = [(await infraScript(['up', 'kafka', '--json'], env)).kafkaBrokers!];
    instanceDir = (await infraScript(['status', '--json'], env)).instanceDir ?? '';
  });
  after(async () => {
    await infraScript(['down', 'kafka', '--kill'], env);
    if (instanceDir.includes(`/instances/${instance}`)) rmSync(instanceDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged append, each chain, and the subscription complete', async () => {
    const tag = `restart-${Date.now()}`;
    const log = await KafkaEventLog.connect({ brokers, logLevel: 'nothing', topics: { prefix: `${tag}.` }, groupPrefix: `${tag}.` });
    const delivered = new Map<string, number[]>();
    const sub = log.subscribe({
      name: 'projection',
      from: 'checkpoint',
      handler: (batch) => {
        for (const e of batch) delivered.set(e.streamId, [...(delivered.get(e.streamId) ?? []), e.streamSeq]);
      },
    });
    const streams = 10;
    let stop = false;
    const failures: string[] = [];
    const writers = Array.from({ length: streams }, async (_, s) => {
      let acknowledged = 0;
      while (!stop) {
        try {
          await log.append(`w-${s}`, [{ type: 'E', payload: new Uint8Array([s]), occurredAt: 1 }], { expectedVersion: acknowledged, producer: 'w' });
          acknowledged++;
        } catch (error) {
          failures.push(String(error)); // an unacknowledged append may still have landed: re-read the head
          acknowledged = await log.streamVersion(`w-${s}`).catch(() => acknowledged);
        }
      }
      return acknowledged;
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await infraScript(['down', 'kafka', '--kill'], env); // a crash, not a clean shutdown
      await infraScript(['up', 'kafka'], env);
      await new Promise((r) => setTimeout(r, 2000));
      stop = true;
      const acknowledged = await Promise.all(writers);
      await sub.caughtUp();
      for (let s = 0; s < streams; s++) {
        const events = await log.readStream(`w-${s}`);
        assert.ok(events.length >= acknowledged[s]!, `w-${s}: ${events.length} stored, ${acknowledged[s]} acknowledged`);
        let prev = GENESIS_HASH;
        events.forEach((e, i) => {
          assert.equal(e.streamSeq, i + 1);
          assert.ok(equalBytes(e.prevHash, prev) && equalBytes(e.hash, computeEventHash(e)), `w-${s} chain at ${i + 1}`);
          prev = e.hash;
        });
        const seqs = [...new Set(delivered.get(`w-${s}`) ?? [])].sort((a, b) => a - b);
        assert.deepEqual(seqs, events.map((e) => e.streamSeq), `w-${s}: the subscription saw every event`);
      }
      assert.ok(acknowledged.reduce((a, b) => a + b, 0) > streams, 'writers made progress');
    } finally {
      stop = true;
      await Promise.allSettled(writers);
      await sub.stop();
      await log.close();
    }
  });
});
