import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { EmbeddedEventLog, type EventLog } from '@opal/event-log';
import type { ContentStore } from '@opal/content-store';
import { CHAIN_ID, signContributionFast, wallet } from '@opal/testkit';
import type * as api from '@opal/contracts/opal/ingest/v1/ingest.api';
import { InspectionPool } from '../adapters/inspection/inspection-pool.js';
import { handleSubmissionStream } from '../adapters/grpc/submission-batch.js';
import { CreateDatanetHandler } from './create-datanet.handler.js';
import { DatanetRepository } from './datanet.repository.js';
import { SubmitContributionHandler } from './submit-contribution.handler.js';
import { PublishVersionHandler, type PublishedVersion } from './publish-version.handler.js';
import type { SchemaValidator } from './ingest.ports.js';
import { IngestError } from '../domain/ingest.errors.js';

const DAY = 86_400_000;
const content = { put: async () => {}, get: async () => undefined, getMany: async () => new Map(), close: async () => {} } as unknown as ContentStore;
const schemas = { compile: () => ({ validate: () => undefined }) } as unknown as SchemaValidator;

/** A Datanet on a fresh embedded log, its submission handler, and a signed item maker. */
async function datanet(clock: { now(): number }, policy?: { dailyQuota: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'opal-submit-'));
  const log = await EmbeddedEventLog.open(dir, { fsync: false });
  const repo = new DatanetRepository(log);
  const inspector = new InspectionPool(CHAIN_ID, 0);
  const handler = new SubmitContributionHandler(repo, inspector, content, schemas, clock);
  const w = wallet(1);
  const { datanetId } = await new CreateDatanetHandler(repo, schemas, clock).execute({ datanetId: 'dn', name: 'n', description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: w.address, policy: policy as never });
  const item = (nonce: number, text: string) => {
    const bytes = Buffer.from(text);
    return { datanetId, content: bytes, contributor: w.address, nonce: String(nonce), signature: signContributionFast(w, datanetId, bytes, BigInt(nonce)) };
  };
  const close = async () => {
    await inspector.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { handler, item, repo, close };
}

/**
 * Replicas of the service on one log with concurrent writers (as on Kafka): each a view of the log
 * whose appends take `delayMs` (a broker's round trip); a replica `racedByB` runs
 * `beforeNextAppend`, once, before its next append reaches the log, to make it lose a race.
 */
function raceable(log: EmbeddedEventLog) {
  const race = {
    beforeNextAppend: undefined as (() => Promise<unknown>) | undefined,
    replica: (delayMs: number, racedByB: boolean) =>
      new Proxy(log, {
        get(target, key) {
          if (key === 'concurrentWriters') return true;
          if (key === 'append') {
            return async (...args: Parameters<EventLog['append']>) => {
              const first = racedByB ? race.beforeNextAppend : undefined;
              if (first) {
                race.beforeNextAppend = undefined;
                await first();
              }
              await new Promise((r) => setTimeout(r, delayMs));
              return log.append(...args);
            };
          }
          const value = Reflect.get(target, key, target) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }) as EventLog,
  };
  return race;
}

/** Replicas A (appends raced by B, see raceable) and B on a fresh log, with a Datanet `datanetId` B created. */
async function twoReplicas(datanetId: string) {
  const dir = mkdtempSync(join(tmpdir(), 'opal-replicas-'));
  const log = await EmbeddedEventLog.open(dir, { fsync: false });
  const inspector = new InspectionPool(CHAIN_ID, 0);
  const race = raceable(log);
  const clock = { now: () => Date.now() };
  const repoA = new DatanetRepository(race.replica(20, true));
  const repoB = new DatanetRepository(race.replica(0, false));
  await new CreateDatanetHandler(repoB, schemas, clock).execute({ datanetId, name: datanetId, description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner: wallet(0).address, policy: undefined as never });
  const close = async () => {
    await inspector.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { race, clock, inspector, repoA, repoB, close };
}

describe('SubmitContributionHandler', () => {
  it('checks the daily quota against the day the submission is recorded in, one reading of the clock (a decision straddling midnight)', async () => {
    let t = 20_000 * DAY - 5_000;
    // Each reading a little later: the decision runs after the command's time was taken.
    const clock = { now: () => (t += 2) };
    const d = await datanet(clock, { dailyQuota: 1 });
    try {
      assert.equal((await d.handler.execute(d.item(1, 'the first contribution of the day'))).status, 'ACCEPTED');
      t = 20_000 * DAY - 3; // the command's time is the last millisecond of the day; a later reading the next day
      const second = await d.handler.execute(d.item(2, 'a second one, taken at the last millisecond'));
      assert.deepEqual([second.status, second.reason], ['REJECTED', 'QUOTA_EXCEEDED']);
    } finally {
      await d.close();
    }
  });

  it('names the contribution a used nonce made, to a retry after a lost answer, unary or in a stream', async () => {
    const d = await datanet({ now: () => Date.now() });
    try {
      const item = d.item(7, 'a contribution whose first answer never reached its client');
      const first = await d.handler.execute(item);
      assert.equal(first.status, 'ACCEPTED');
      await assert.rejects(d.handler.execute(item), (e: IngestError) => e.code === 'NONCE_REPLAYED' && e.subject?.contributionId === first.contributionId && /is ACCEPTED/.test(e.message));
      const call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => Infinity });
      const reply = new Promise<api.SubmitContributionsResponse>((resolve) => void handleSubmissionStream(call as never, (_e, r) => resolve(r!), d.handler, pino({ level: 'silent' })));
      call.emit('data', item);
      call.emit('end');
      const [again] = (await reply).results;
      assert.deepEqual([again!.status, again!.reason, again!.contributionId, again!.contentHash], ['REJECTED', 'NONCE_REPLAYED', first.contributionId, first.contentHash]);
    } finally {
      await d.close();
    }
  });

  it('decides the items of a client stream in their order after a lost race: the first of two same texts keeps the credit', async () => {
    const datanetId = 'dn-order';
    const { race, clock, inspector, repoA, repoB, close } = await twoReplicas(datanetId);
    try {
      const a = new SubmitContributionHandler(repoA, inspector, content, schemas, clock);
      const b = new SubmitContributionHandler(repoB, inspector, content, schemas, clock);
      let nonce = 100;
      const item = (w: ReturnType<typeof wallet>, text: string) => {
        const bytes = Buffer.from(text);
        const n = BigInt(++nonce);
        return { datanetId, content: bytes, contributor: w.address, nonce: String(n), signature: signContributionFast(w, datanetId, bytes, n) };
      };
      await a.execute(item(wallet(9), 'a first text, so that replica A holds the Datanet'));
      // One race lost already: A then runs the Datanet without deciding ahead (contended).
      await b.execute(item(wallet(8), 'replica B appends what replica A has not read yet'));
      assert.equal((await a.execute(item(wallet(7), 'replica A submits on what it holds, and loses once'))).status, 'ACCEPTED');
      // A client stream on A: the same text by two contributors. B appends while A's first append is on its way.
      const text = 'the very same paragraph of training text, sent twice in one client stream';
      const items = [item(wallet(1), text), item(wallet(2), text)];
      race.beforeNextAppend = () => b.execute(item(wallet(3), 'an unrelated contribution replica B appends meanwhile'));
      const call = Object.assign(new EventEmitter(), { pause() {}, resume() {}, getDeadline: () => Infinity });
      const reply = new Promise<api.SubmitContributionsResponse>((resolve) => void handleSubmissionStream(call as never, (_e, r) => resolve(r!), a, pino({ level: 'silent' })));
      for (const i of items) call.emit('data', i);
      call.emit('end');
      const [first, second] = (await reply).results;
      assert.equal(race.beforeNextAppend, undefined, 'the race took place');
      assert.deepEqual([first!.status, second!.status, second!.reason, second!.duplicateOf], ['ACCEPTED', 'REJECTED', 'DUPLICATE', first!.contributionId]);
    } finally {
      await close();
    }
  });
});

describe('PublishVersionHandler', () => {
  it('answers a publish that lost its race to another replica\'s with the version that holds what it was to hold', async () => {
    const datanetId = 'dn-publish';
    const { race, clock, inspector, repoA, repoB, close } = await twoReplicas(datanetId);
    try {
      const submit = new SubmitContributionHandler(repoB, inspector, content, schemas, clock);
      for (let i = 1; i <= 3; i++) {
        const bytes = Buffer.from(`contribution number ${i} of the Datanet, with words enough to be its own`);
        await submit.execute({ datanetId, content: bytes, contributor: wallet(i).address, nonce: String(i), signature: signContributionFast(wallet(i), datanetId, bytes, BigInt(i)) });
      }
      // Replica A decides version 1; replica B publishes version 1 first.
      let onB: Promise<PublishedVersion> | undefined;
      race.beforeNextAppend = () => (onB = new PublishVersionHandler(repoB, clock).execute(datanetId));
      const onA = await new PublishVersionHandler(repoA, clock).execute(datanetId);
      assert.ok(onB, 'the race took place');
      assert.deepEqual(onA, await onB);
      assert.equal(onA.version, 1);
      assert.equal(onA.contributions, 3);
      // With nothing accepted since, a publish is still refused.
      await assert.rejects(new PublishVersionHandler(repoA, clock).execute(datanetId), (e: IngestError) => e.code === 'NOTHING_TO_PUBLISH');
    } finally {
      await close();
    }
  });
});
