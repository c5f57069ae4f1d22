import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import pino from 'pino';
import { EventLogError, TransientError } from '@opal/event-log';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import type { SubmitContributionHandler } from '../../application/submit-contribution.handler.js';
import { handleSubmissionStream } from './submission-batch.js';

/** A client stream of `items` requests, ended; what the server answered comes back. */
async function answer(handler: Partial<SubmitContributionHandler>, items: number): Promise<api.SubmitContributionsResponse> {
  const call = Object.assign(new EventEmitter(), { pause() {}, resume() {} });
  let reply: api.SubmitContributionsResponse | undefined;
  const done = handleSubmissionStream(call as never, (error, r) => (assert.equal(error, null), (reply = r!)), handler as SubmitContributionHandler, pino({ level: 'silent' }));
  for (let i = 0; i < items; i++) call.emit('data', { datanetId: 'dn', content: new Uint8Array([i]), contributor: '0xc', nonce: BigInt(i), signature: new Uint8Array(65) });
  call.emit('end');
  await done;
  return reply!;
}

describe('SubmitContributions: items the event log refuses', () => {
  it('answers an item whose Datanet kept changing under other writers ABORTED, naming the conflict, and goes on', async () => {
    const conflict = () => new EventLogError('VERSION_CONFLICT', 'stream datanet-dn: expected version 3, is 4');
    let attempt = 0;
    const reply = await answer(
      {
        prepare: async () => ({}) as never,
        // The first item loses every race (the retries included); the second one lands.
        decide: async () => {
          if (attempt++ === 0) throw conflict();
          return { durable: Promise.resolve({ contributionId: 'c2', status: 'ACCEPTED', reason: '', detail: '', duplicateOf: '', contentHash: 'h' }) } as never;
        },
        decideDurably: async () => {
          throw conflict();
        },
      },
      2,
    );
    assert.equal(reply.results.length, 2);
    assert.equal(reply.results[0]!.status, 'REJECTED');
    assert.equal(reply.results[0]!.reason, 'ABORTED');
    assert.match(reply.results[0]!.detail, /expected version 3/);
    assert.equal(reply.results[1]!.status, 'ACCEPTED');
    assert.equal(reply.accepted, 1);
  });

  it('answers an item the broker could not take UNAVAILABLE', async () => {
    const reply = await answer(
      {
        prepare: async () => ({}) as never,
        decide: async () => {
          throw new EventLogError('UNAVAILABLE', 'kafka: broker away');
        },
      },
      1,
    );
    assert.equal(reply.results[0]!.reason, 'UNAVAILABLE');
    assert.match(reply.results[0]!.detail, /broker away/);
  });

  it('answers an item whose content store is away UNAVAILABLE, as a unary submission is', async () => {
    const reply = await answer(
      {
        prepare: async () => {
          throw new TransientError('mongodb unavailable: connect ECONNREFUSED');
        },
      },
      1,
    );
    assert.equal(reply.results[0]!.reason, 'UNAVAILABLE');
    assert.match(reply.results[0]!.detail, /mongodb unavailable/);
  });
});
