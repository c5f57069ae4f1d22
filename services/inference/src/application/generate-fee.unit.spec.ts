import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { availableBalance } from '../domain/tenant.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { BalanceHolds } from './balance-holds.js';
import { withPlatformFee } from '@opal/testkit';
import { GenerateHandler } from './generate.handler.js';
import { TenantRepository, TenantsHandler } from './tenants.handler.js';

// What a request is charged: its model price on the tokens used and the platform fee in force,
// never more than the hold taken before it ran.

const HOLD_MS = 60_000;
const target = {
  base: { id: 'b', kind: 'base', parent: '', owner: '', datanetVersions: [], engine: 'remote', uri: 'http://x', contentHash: '', contextSize: 4096, remoteName: 'b', pricePer1kInput: '0', pricePer1kOutput: '0' },
  adapter: { id: 'a', kind: 'adapter', parent: 'b', owner: '0x' + '11'.repeat(20), datanetVersions: [], engine: '', uri: 'a', contentHash: '', contextSize: 0, remoteName: '', pricePer1kInput: '1000', pricePer1kOutput: '1000' },
};
const quiet = { warn() {}, debug() {}, info() {}, error() {} };

describe('inference: the fee charged', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  const clock = { now: () => 1_700_000_000_000 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-fee-'));
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one request of `prompt` with `maxTokens` for a tenant credited `credit`, on an engine that reports `usage`. */
  async function run(id: string, credit: bigint, prompt: string, maxTokens: number, usage: { promptTokens: number; completionTokens: number }, finishReason = 'length') {
    const admin = new TenantsHandler(new TenantRepository(log), { hash: (k: string) => `h-${id}-${k}`, newKey: () => 'k'.repeat(20) }, clock as never);
    await admin.create({ tenantId: id, apiKey: `${id}-key-0123456789` });
    await admin.credit({ tenantId: id, amount: credit.toString(), reference: 'deposit' });
    const engines = {
      async *generate() {
        yield { type: 'text', text: 'x', tokenCount: 1 };
        yield { type: 'done', finishReason, usage, timings: { timeToFirstTokenMs: 1, tokensPerSecond: 1, adapterLoadMs: 0, queueMs: 0, totalMs: 1 } };
      },
    };
    const holds = new BalanceHolds(new TenantRepository(log), log, clock as never, { holdMs: HOLD_MS });
    const handler = new GenerateHandler(
      { target: async () => target } as never, { authenticate: async () => id } as never, holds, engines as never,
      { refused() {}, requestStarted: () => () => {}, observe() {} } as never, log, clock as never, { defaultMaxTokens: 16, holdMs: HOLD_MS } as never, quiet as never,
    );
    let fee = '';
    for await (const o of await handler.start({ apiKey: 'k', model: 'a', prompt, maxTokens, stop: [], retrievedContributions: [] } as never)) {
      if (o.type === 'summary') fee = o.summary.fee;
    }
    const events = (await log.readStream(`tenant-${id}`)).map((e) => inferenceCodec.decode(e)!);
    const held = events.find((e) => e.type === 'BalanceHeld')!.data as { amount: string };
    const state = (await new TenantRepository(log).peek(`tenant-${id}`)).state;
    const outcome = (await log.readStream(`inference-${(held as unknown as { inferenceId: string }).inferenceId}`)).map((e) => inferenceCodec.decode(e)!)[0]!;
    return { fee: BigInt(fee), held: BigInt(held.amount), available: availableBalance(state), outcome };
  }

  it('is the model price on the tokens used, and the platform fee in force on it, rounded up', async () => {
    // 3 prompt tokens at 1 and 7 output tokens at 1: a model price of 10.
    const r = await run('priced', 1000n, 'abc', 16, { promptTokens: 3, completionTokens: 7 });
    assert.equal(r.fee, withPlatformFee(10n));
    assert.equal(r.available, 1000n - r.fee);
  });

  it('is never more than the hold: tokens the engine reports past the quote are not charged', async () => {
    // A prompt of 4 bytes is held for 5 tokens and 10 output tokens; the tokenizer spent 6 (a
    // dummy-prefix space) and the engine reported 12. The tenant had exactly the hold.
    const hold = withPlatformFee(15n);
    const r = await run('exact', hold, '1234', 10, { promptTokens: 6, completionTokens: 12 });
    assert.equal(r.held, hold);
    assert.equal(r.fee, hold);
    assert.equal(r.available, 0n);
  });

  it('is paid for the output produced before a cut (the client cancelled, the deadline passed), which is recorded and attributed as completed', async () => {
    const cut = await run('cut', 1000n, 'abc', 16, { promptTokens: 3, completionTokens: 7 }, 'cancelled');
    assert.equal(cut.fee, withPlatformFee(10n));
    assert.equal(cut.available, 1000n - cut.fee);
    assert.equal(cut.outcome.type, 'InferenceCompleted');
    assert.equal(cut.outcome.type === 'InferenceCompleted' && cut.outcome.data.finishReason, 'cancelled');
    assert.equal(cut.outcome.type === 'InferenceCompleted' && cut.outcome.data.fee?.total, cut.fee.toString());
    // Cut before any output: nothing to pay for.
    const early = await run('cut-early', 1000n, 'abc', 16, { promptTokens: 3, completionTokens: 0 }, 'deadline');
    assert.equal(early.fee, 0n);
    assert.equal(early.available, 1000n);
    assert.equal(early.outcome.type, 'InferenceFailed');
  });
});
