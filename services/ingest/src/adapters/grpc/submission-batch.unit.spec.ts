import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import pino from 'pino';
import { EventLogError, TransientError } from '@opal/event-log';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import type { SubmitContributionHandler } from '../../application/submit-contribution.handler.js';
import { STREAM_CONFLICT_RETRY_MS, handleSubmissionStream, type SubmissionForwarding } from './submission-batch.js';
import type { ForwardedSubmissions } from './ingest-forwarding.js';

/** A client stream of `items` requests, ended; what the server answered comes back. */
async function answer(handler: Partial<SubmitContributionHandler>, items: number, deadline: Date | number = Infinity): Promise<api.SubmitContributionsResponse> {
  const call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => deadline });
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

  it("decides an item that lost its race again until the call's deadline, or for 30 s on a call without one", async () => {
    const conflict = () => new EventLogError('VERSION_CONFLICT', 'stream datanet-dn: expected version 3, is 4');
    const untils: (number | undefined)[] = [];
    const handler = {
      prepare: async () => ({}) as never,
      decide: async () => {
        throw conflict();
      },
      decideDurably: async (_: unknown, until?: number) => {
        untils.push(until);
        return { contributionId: 'c', status: 'ACCEPTED', reason: '', detail: '', duplicateOf: '', contentHash: 'h' } as never;
      },
    };
    const deadline = Date.now() + 120_000;
    assert.equal((await answer(handler, 1, new Date(deadline))).accepted, 1);
    assert.equal(untils[0], deadline - 1000, 'the answer has a second to reach the caller');
    const before = Date.now();
    assert.equal((await answer(handler, 1)).accepted, 1);
    assert.ok(untils[1]! >= before + STREAM_CONFLICT_RETRY_MS && untils[1]! <= Date.now() + STREAM_CONFLICT_RETRY_MS, `${untils[1]! - before} ms`);
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

/** A stream on to an owner that takes `room` items before asking to wait, and answers as `answer` says. */
function ownerStream(to: string, room: number, answer: (sent: api.SubmitContributionRequest[]) => Promise<api.SubmitContributionsResponse>) {
  const sent: api.SubmitContributionRequest[] = [];
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  const waiting: (() => void)[] = [];
  const stream: ForwardedSubmissions & { sent: typeof sent; drain: () => void } = {
    to,
    positions: [],
    sent,
    write: (r) => (sent.push(r), sent.length < room),
    drained: () => new Promise<void>((r) => waiting.push(r)),
    drain: () => waiting.splice(0).forEach((r) => r()),
    end: ended,
    cancel: () => {},
    response: end.then(() => answer(sent)),
  };
  return stream;
}

const accepted = (id: string): api.SubmitContributionResponse => ({ contributionId: id, status: 'ACCEPTED', reason: '', detail: '', duplicateOf: '', contentHash: 'h' });

describe('SubmitContributions: items on a Datanet another process owns', () => {
  const local: Partial<SubmitContributionHandler> = {
    prepare: async (x) => x as never,
    decide: async (x) => ({ durable: Promise.resolve(accepted(`here-${(x as unknown as { nonce: string }).nonce}`)) }) as never,
  };

  async function run(forwarding: SubmissionForwarding, datanets: string[], call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => Infinity })) {
    let reply: api.SubmitContributionsResponse | undefined;
    const done = handleSubmissionStream(call as never, (error, r) => (assert.equal(error, null), (reply = r!)), local as SubmitContributionHandler, pino({ level: 'silent' }), forwarding);
    datanets.forEach((datanetId, i) => call.emit('data', { datanetId, content: new Uint8Array([i]), contributor: '0xc', nonce: String(i), signature: new Uint8Array(65) }));
    call.emit('end');
    await done;
    return reply!;
  }

  it("sends them on in order, in one stream per owner, and puts the owner's results in their places", async () => {
    const owners = new Map([['a', 'owner-1:1'], ['c', 'owner-1:1'], ['b', 'owner-2:1']]);
    const opened: ReturnType<typeof ownerStream>[] = [];
    const reply = await run(
      {
        ownerOf: (d) => owners.get(d),
        open: (to) => {
          const s = ownerStream(to, 1000, async (sent) => ({ results: sent.map((r) => accepted(`${to}-${r.nonce}`)), accepted: sent.length, rejected: 0, pendingReview: 0 }));
          opened.push(s);
          return s;
        },
      },
      ['a', 'here', 'b', 'c', 'a', 'here', 'b'],
    );
    assert.deepEqual(opened.map((s) => [s.to, s.sent.map((r) => `${r.datanetId}${r.nonce}`)]), [
      ['owner-1:1', ['a0', 'c3', 'a4']],
      ['owner-2:1', ['b2', 'b6']],
    ]);
    assert.deepEqual(
      reply.results.map((r) => r.contributionId),
      ['owner-1:1-0', 'here-1', 'owner-2:1-2', 'owner-1:1-3', 'owner-1:1-4', 'here-5', 'owner-2:1-6'],
    );
    assert.equal(reply.accepted, 7);
  });

  it('answers the items of an owner whose call failed UNAVAILABLE, and the others as they went', async () => {
    const reply = await run(
      {
        ownerOf: (d) => (d === 'gone' ? 'owner:1' : undefined),
        open: (to) => ownerStream(to, 1000, async () => Promise.reject(Object.assign(new Error('Connection dropped'), { getError: () => ({ code: 14, message: 'Connection dropped' }) }))),
      },
      ['gone', 'here', 'gone'],
    );
    assert.deepEqual(
      reply.results.map((r) => `${r.status} ${r.reason}`),
      ['REJECTED UNAVAILABLE', 'ACCEPTED ', 'REJECTED UNAVAILABLE'],
    );
    assert.match(reply.results[0]!.detail, /owner of the Datanet \(owner:1\): Connection dropped/);
  });

  it("switches to a Datanet's new owner mid-call only once the old one answered for the items before", async () => {
    // The owner of 'a' leaves after the second item (a replica stopped): the items after are
    // decided here, after the old owner's answer; 'b' stays with its owner, in a stream of its own now.
    const owners = new Map([['a', 'owner-1:1'], ['b', 'owner-2:1']]);
    const order: string[] = [];
    const opened: ReturnType<typeof ownerStream>[] = [];
    const call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => Infinity });
    const logged = { ...local, decide: async (x: unknown) => (order.push(`here-${(x as { nonce: string }).nonce}`), local.decide!(x as never)) };
    let reply: api.SubmitContributionsResponse | undefined;
    const done = handleSubmissionStream(call as never, (error, r) => (assert.equal(error, null), (reply = r!)), logged as SubmitContributionHandler, pino({ level: 'silent' }), {
      ownerOf: (d) => owners.get(d),
      open: (to) => {
        const s = ownerStream(to, 1000, async (sent) => {
          await new Promise((r) => setTimeout(r, 20)); // the old owner takes a moment to answer
          order.push(`${to} answered ${sent.map((r) => r.nonce).join(',')}`);
          return { results: sent.map((r) => accepted(`${to}-${r.nonce}`)), accepted: sent.length, rejected: 0, pendingReview: 0 };
        });
        opened.push(s);
        return s;
      },
    });
    const send = (datanetId: string, i: number) => call.emit('data', { datanetId, content: new Uint8Array([i]), contributor: '0xc', nonce: String(i), signature: new Uint8Array(65) });
    send('a', 0);
    send('b', 1);
    send('a', 2);
    owners.delete('a');
    send('a', 3);
    send('b', 4);
    send('a', 5);
    call.emit('end');
    await done;
    assert.deepEqual(opened.map((s) => [s.to, s.sent.map((r) => `${r.datanetId}${r.nonce}`)]), [
      ['owner-1:1', ['a0', 'a2']],
      ['owner-2:1', ['b1']],
      ['owner-2:1', ['b4']],
    ]);
    assert.deepEqual(order.slice(0, 2).sort(), ['owner-1:1 answered 0,2', 'owner-2:1 answered 1']);
    assert.deepEqual(order.slice(2), ['here-3', 'here-5', 'owner-2:1 answered 4'], 'the items after the switch, after the answers before it');
    assert.deepEqual(
      reply!.results.map((r) => r.contributionId),
      ['owner-1:1-0', 'owner-2:1-1', 'owner-1:1-2', 'here-3', 'owner-2:1-4', 'here-5'],
    );
  });

  it('goes to a new owner only once the items decided here are in the log, not just decided', async () => {
    // 'a' is decided here until another replica takes it: item 1 goes there, after item 0's append.
    const owners = new Map<string, string>();
    const order: string[] = [];
    const slow: Partial<SubmitContributionHandler> = {
      prepare: async (x) => x as never,
      decide: async (x) => {
        const nonce = (x as unknown as { nonce: string }).nonce;
        const durable = new Promise((r) => setTimeout(r, 30)).then(() => (order.push(`here-${nonce} in the log`), accepted(`here-${nonce}`)));
        return { durable } as never;
      },
    };
    const call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => Infinity });
    let reply: api.SubmitContributionsResponse | undefined;
    const done = handleSubmissionStream(call as never, (error, r) => (assert.equal(error, null), (reply = r!)), slow as SubmitContributionHandler, pino({ level: 'silent' }), {
      ownerOf: (d) => owners.get(d),
      open: (to) => {
        const s = ownerStream(to, 1000, async (sent) => ({ results: sent.map((r) => accepted(`${to}-${r.nonce}`)), accepted: sent.length, rejected: 0, pendingReview: 0 }));
        const write = s.write;
        s.write = (r) => (order.push(`${to} got ${r.nonce}`), write(r));
        return s;
      },
    });
    call.emit('data', { datanetId: 'a', content: new Uint8Array([0]), contributor: '0xc', nonce: '0', signature: new Uint8Array(65) });
    owners.set('a', 'owner-1:1');
    call.emit('data', { datanetId: 'a', content: new Uint8Array([1]), contributor: '0xc', nonce: '1', signature: new Uint8Array(65) });
    call.emit('end');
    await done;
    assert.deepEqual(order, ['here-0 in the log', 'owner-1:1 got 1']);
    assert.deepEqual(reply!.results.map((r) => r.contributionId), ['here-0', 'owner-1:1-1']);
  });

  it('keeps the routes it took while this process leaves its group (routing stopped): their owners still own them', async () => {
    let routing = true;
    const opened: ReturnType<typeof ownerStream>[] = [];
    const call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => Infinity });
    let reply: api.SubmitContributionsResponse | undefined;
    const done = handleSubmissionStream(call as never, (error, r) => (assert.equal(error, null), (reply = r!)), local as SubmitContributionHandler, pino({ level: 'silent' }), {
      // As IngestForwarding answers: nobody to send to once routing stopped.
      ownerOf: () => (routing ? 'owner:1' : undefined),
      open: (to) => {
        const s = ownerStream(to, 1000, async (sent) => ({ results: sent.map((r) => accepted(`${to}-${r.nonce}`)), accepted: sent.length, rejected: 0, pendingReview: 0 }));
        opened.push(s);
        return s;
      },
      routed: () => routing,
    });
    const send = (i: number) => call.emit('data', { datanetId: 'a', content: new Uint8Array([i]), contributor: '0xc', nonce: String(i), signature: new Uint8Array(65) });
    send(0);
    routing = false;
    send(1);
    call.emit('end');
    await done;
    assert.deepEqual(opened.map((s) => s.sent.map((r) => r.nonce)), [['0', '1']]);
    assert.deepEqual(reply!.results.map((r) => r.contributionId), ['owner:1-0', 'owner:1-1']);
  });

  it('decides here the items of an owner it cannot reach now', async () => {
    const reply = await run({ ownerOf: () => 'owner:1', open: () => undefined }, ['a', 'a']);
    assert.deepEqual(
      reply.results.map((r) => r.contributionId),
      ['here-0', 'here-1'],
    );
  });

  it('stops reading the client while the owner has no room, and reads on once it has', async () => {
    const events: string[] = [];
    const call = Object.assign(new EventEmitter(), { pause: () => events.push('pause'), resume: () => events.push('resume') });
    const owner = ownerStream('owner:1', 2, async (sent) => ({ results: sent.map((r) => accepted(r.nonce)), accepted: sent.length, rejected: 0, pendingReview: 0 }));
    let reply: api.SubmitContributionsResponse | undefined;
    const done = handleSubmissionStream(call as never, (_e, r) => (reply = r!), local as SubmitContributionHandler, pino({ level: 'silent' }), { ownerOf: () => 'owner:1', open: () => owner });
    for (let i = 0; i < 3; i++) call.emit('data', { datanetId: 'a', content: new Uint8Array([i]), contributor: '0xc', nonce: String(i), signature: new Uint8Array(65) });
    assert.deepEqual(events, ['pause'], 'paused once the owner asked to wait');
    owner.drain();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['pause', 'resume']);
    call.emit('end');
    await done;
    assert.deepEqual(
      reply!.results.map((r) => r.contributionId),
      ['0', '1', '2'],
    );
  });
});
