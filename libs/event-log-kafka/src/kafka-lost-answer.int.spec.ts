import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import { deleteTopics } from '@opal/test-infra';
import { EventLogError } from '@opal/event-log';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

const PRODUCE = 0; // Kafka's API key of a produce request

/**
 * Connections to the broker that, while `losing`, lose the broker's answer to every produce request:
 * the broker has appended the records, and the client only sees its connection fail.
 */
function answerLosingSockets() {
  const state = { losing: false, lost: 0 };
  const factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect);
    let produceSent = false;
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      // A request is size (4 bytes), API key (2), version (2), correlation id (4), ...
      if (state.losing && Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === PRODUCE) produceSent = true;
      return write(chunk, ...rest);
    }) as typeof socket.write;
    const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
    socket.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'data' && produceSent) {
        state.lost++;
        socket.destroy(new Error('answer lost on the way'));
        return true;
      }
      return emit(event, ...args);
    }) as typeof socket.emit;
    return socket;
  };
  return { state, factory };
}

describe('kafka appends after an append whose answer was lost', { skip: infra.skipped ? infra.reason : undefined }, () => {
  const lossy = answerLosingSockets();
  const options = optionsFor('lost-answer', { socketFactory: lossy.factory });
  after(async () => {
    await deleteTopics(brokers, options.topics!.prefix!);
  });

  it('writes the next append to that partition rather than take it for the lost one, and appends go on', async () => {
    const log = await KafkaEventLog.connect(options);
    const reader = await KafkaEventLog.connect({ ...options, socketFactory: undefined, clientId: 'opal-test-lost-answer-reader' });
    try {
      // Streams of one partition: the broker numbers a producer's batches per partition.
      const first = `lost-${run}-0`;
      const { partition } = log.locate(first);
      const same = Array.from({ length: 400 }, (_, i) => `lost-${run}-${i}`).filter((s) => log.locate(s).partition === partition);
      const [lost, next, after2, before] = same;
      await log.append(before!, [ev('Before')], { expectedVersion: 'no_stream', producer: 't' });

      lossy.state.losing = true;
      const failed = await log.append(lost!, [ev('Lost')], { expectedVersion: 'no_stream', producer: 't' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      lossy.state.losing = false;
      assert.ok(failed instanceof EventLogError && failed.code === 'UNAVAILABLE', `the append fails as unavailable: ${String(failed)}`);
      assert.ok(lossy.state.lost > 1, 'the client tried again and gave up');

      // As many records as the lost batch: the broker would take it for a retry of that batch.
      const written = await log.append(next!, [ev('Next')], { expectedVersion: 'no_stream', producer: 't' });
      assert.equal(written.length, 1);
      // And a batch of another size: it would be refused as out of order.
      await log.append(after2!, [ev('A'), ev('B')], { expectedVersion: 'no_stream', producer: 't' });

      // What the partition holds, read by a process of its own.
      const seen = async (s: string) => (await reader.readStream(s)).map((e) => e.type);
      assert.deepEqual(await seen(next!), ['Next'], 'the acknowledged append is in the log');
      assert.deepEqual(await seen(after2!), ['A', 'B']);
      assert.deepEqual(await seen(lost!), ['Lost'], 'the append that failed as unavailable had been written');
      assert.deepEqual(await seen(before!), ['Before']);
      // This process's own index agrees with the log.
      assert.deepEqual((await log.readStream(next!)).map((e) => e.position), (await reader.readStream(next!)).map((e) => e.position));
      assert.equal(await log.streamVersion(lost!), 1);
    } finally {
      await Promise.all([log.close(), reader.close()]);
    }
  });
});
