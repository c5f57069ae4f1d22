import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog, EventLogError, type AppendOptions, type EventLog, type NewEvent } from '@opal/event-log';
import { availableBalance } from '../domain/tenant.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { BalanceHolds } from './balance-holds.js';
import { GenerateHandler } from './generate.handler.js';
import { TenantRepository, TenantsHandler } from './tenants.handler.js';

// Appends whose answers are lost on Kafka (a produce timeout, the broker failing over): the log took
// them, the appender is told UNAVAILABLE. The log here is a real one that says so once, after writing.

const HOLD_MS = 60_000;
const target = {
  base: { id: 'b', kind: 'base', parent: '', owner: '', datanetVersions: [], engine: 'remote', uri: 'http://x', contentHash: '', contextSize: 4096, remoteName: 'b', pricePer1kInput: '0', pricePer1kOutput: '0' },
  adapter: { id: 'a', kind: 'adapter', parent: 'b', owner: '0x' + '11'.repeat(20), datanetVersions: [], engine: '', uri: 'a', contentHash: '', contextSize: 0, remoteName: '', pricePer1kInput: '1000', pricePer1kOutput: '1000' },
};
const engines = {
  async *generate() {
    yield { type: 'text', text: 'hello', tokenCount: 1 };
    yield { type: 'done', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 1 }, timings: { timeToFirstTokenMs: 1, tokensPerSecond: 1, adapterLoadMs: 0, queueMs: 0, totalMs: 1 } };
  },
};
const quiet = { warn() {}, debug() {}, info() {}, error() {} };
const request = { apiKey: 'k', model: 'a', prompt: 'abc', maxTokens: 16, stop: [], retrievedContributions: [] };

describe('inference: appends whose answers are lost', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  let now = 1_700_000_000_000;
  const clock = { now: () => now };

  /** The log as replicas see Kafka; the first append `drop` picks lands, and its answer is lost. */
  function losing(drop: (stream: string, events: readonly NewEvent[]) => boolean): EventLog {
    let dropped = false;
    return new Proxy(log, {
      get(t, key) {
        if (key === 'concurrentWriters') return true;
        if (key === 'append') {
          return async (stream: string, events: readonly NewEvent[], options: AppendOptions) => {
            const stored = await t.append(stream, events, options);
            if (!dropped && drop(stream, events)) {
              dropped = true;
              throw new EventLogError('UNAVAILABLE', 'kafka append failed: request timed out (the broker wrote it)');
            }
            return stored;
          };
        }
        const v = Reflect.get(t, key, t);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    }) as EventLog;
  }

  async function tenant(id: string) {
    const admin = new TenantsHandler(new TenantRepository(log), { hash: (k: string) => `h-${id}-${k}`, newKey: () => 'k'.repeat(20) }, clock);
    await admin.create({ tenantId: id, apiKey: `${id}-key-0123456789` });
    await admin.credit({ tenantId: id, amount: '100000', reference: 'deposit' });
  }

  function generate(shared: EventLog, tenantId: string) {
    const holds = new BalanceHolds(new TenantRepository(shared), shared, clock, { holdMs: HOLD_MS });
    const handler = new GenerateHandler(
      { target: async () => target } as any, { authenticate: async () => tenantId } as any, holds, engines as any,
      { refused() {}, requestStarted: () => () => {}, observe() {} } as any, shared, clock, { defaultMaxTokens: 16, holdMs: HOLD_MS } as any, quiet as any,
    );
    return async () => {
      const out: string[] = [];
      for await (const o of await handler.start(request)) out.push(o.type === 'text' ? o.text : `summary fee ${o.summary.fee}`);
      return out;
    };
  }

  async function ledger(id: string) {
    const s = (await new TenantRepository(log).peek(`tenant-${id}`)).state;
    return { charged: s.charged, openHolds: s.holds.size, available: availableBalance(s) };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-lost-'));
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a hold that landed is the request's hold: the requests go on, and no hold is left open", async () => {
    await tenant('alice');
    const run = generate(losing((stream, events) => stream === 'tenant-alice' && events.some((e) => e.type.endsWith('BalanceHeld'))), 'alice');
    const outs = await Promise.all([run(), run(), run()]);
    assert.deepEqual(outs, [0, 1, 2].map(() => ['hello', 'summary fee 5']));
    const held = (await log.readStream('tenant-alice')).map((e) => inferenceCodec.decode(e)!).filter((e) => e.type === 'BalanceHeld');
    assert.equal(held.length, 3, 'one hold per request, none taken twice');
    assert.deepEqual(await ledger('alice'), { charged: 15n, openHolds: 0, available: 100000n - 15n });
  });

  it('an outcome that landed is answered as recorded, and its hold settled at once', async () => {
    await tenant('bob');
    const run = generate(losing((stream) => stream.startsWith('inference-')), 'bob');
    assert.deepEqual(await run(), ['hello', 'summary fee 5']);
    assert.deepEqual(await ledger('bob'), { charged: 5n, openHolds: 0, available: 100000n - 5n });
    // Nothing left for an expiry to settle: past the hold's life, a sweep charges nothing more.
    now += HOLD_MS + 1;
    assert.equal(await new BalanceHolds(new TenantRepository(log), log, clock, { holdMs: HOLD_MS }).releaseExpired('bob'), 0);
    assert.deepEqual(await ledger('bob'), { charged: 5n, openHolds: 0, available: 100000n - 5n });
  });
});
