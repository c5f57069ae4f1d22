import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Producer, RecordMetadata } from 'kafkajs';
import { RenewingProducer } from './renewing-producer.js';

/** A stand-in producer whose sends wait until the test settles them; it records what happened to it. */
class StandIn {
  readonly pending: { ok: () => void; fail: (e: Error) => void }[] = [];
  connected = false;
  disconnected = false;
  constructor(
    readonly name: string,
    private readonly connectFails = false,
  ) {}
  get producer(): Producer {
    return {
      connect: async () => {
        if (this.connectFails) throw new Error(`${this.name}: broker out of reach`);
        this.connected = true;
      },
      disconnect: async () => {
        this.disconnected = true;
      },
      sendBatch: () =>
        new Promise<RecordMetadata[]>((resolve, reject) => {
          this.pending.push({ ok: () => resolve([{ topicName: this.name, partition: 0, errorCode: 0, baseOffset: '0' }]), fail: reject });
        }),
    } as unknown as Producer;
  }
}

/** A RenewingProducer over a stand-in, making stand-ins named `made-<n>` when it renews. */
function renewingOverStandIns() {
  const first = new StandIn('first');
  const made: StandIn[] = [];
  const renewing = new RenewingProducer(first.producer, () => {
    made.push(new StandIn(`made-${made.length}`));
    return made.at(-1)!.producer;
  });
  return { first, made, renewing };
}

const batch = { topicMessages: [] };
const tick = () => new Promise((r) => setImmediate(r));

describe('RenewingProducer', () => {
  it('given a send that failed, then the next goes to a new producer, and the old one is let go once its sends settle', async () => {
    const { first, made, renewing } = renewingOverStandIns();
    const a = renewing.sendBatch(batch);
    const b = renewing.sendBatch(batch);
    await tick();
    first.pending[0]!.fail(new Error('request timed out'));
    await assert.rejects(a, /timed out/);
    assert.equal(renewing.renewals, 1);
    assert.equal(first.disconnected, false, 'a send is still on it');

    const c = renewing.sendBatch(batch);
    await tick();
    assert.equal(made[0]!.connected, true);
    assert.equal(made[0]!.pending.length, 1, 'the send after the failure went to the new producer');
    first.pending[1]!.ok();
    assert.equal((await b)[0]!.topicName, 'first', 'a send already on the old producer finishes there');
    assert.equal(first.disconnected, true);
    made[0]!.pending[0]!.ok();
    assert.equal((await c)[0]!.topicName, 'made-0');
    assert.equal(renewing.renewals, 1, 'sends that succeed keep the producer');
  });

  it('given a new producer that cannot connect, then its sends fail and the one after tries another', async () => {
    const first = new StandIn('first');
    const made: StandIn[] = [new StandIn('down', true), new StandIn('up')];
    let next = 0;
    const renewing = new RenewingProducer(first.producer, () => made[next++]!.producer);
    const a = renewing.sendBatch(batch);
    await tick();
    first.pending[0]!.fail(new Error('connection closed'));
    await assert.rejects(a);
    await assert.rejects(renewing.sendBatch(batch), /out of reach/);
    assert.equal(made[0]!.disconnected, true);
    const c = renewing.sendBatch(batch);
    await tick();
    made[1]!.pending[0]!.ok();
    assert.equal((await c)[0]!.topicName, 'up');
    assert.equal(renewing.renewals, 2);
  });

  it('given close, then every producer still held is disconnected and sends are refused', async () => {
    const first = new StandIn('first');
    const renewing = new RenewingProducer(first.producer, () => new StandIn('never').producer);
    await renewing.close();
    assert.equal(first.disconnected, true);
    await assert.rejects(renewing.sendBatch(batch), /closed/);
  });

  it('given an answer that lacks a partition sent to, then the next send goes to a new producer', async () => {
    const { first, made, renewing } = renewingOverStandIns();
    const twoPartitions = { topicMessages: [{ topic: 'first', messages: [{ partition: 0, value: 'a' }, { partition: 1, value: 'b' }] }] };
    const a = renewing.sendBatch(twoPartitions);
    await tick();
    first.pending[0]!.ok(); // answers for partition 0 only
    assert.equal((await a).length, 1, 'what was answered is returned');
    assert.equal(renewing.renewals, 1);
    const b = renewing.sendBatch(batch);
    await tick();
    assert.equal(made[0]!.pending.length, 1);
    made[0]!.pending[0]!.ok();
    await b;
  });
});
