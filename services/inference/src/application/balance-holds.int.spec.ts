import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog, EventLogError } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import pino from 'pino';
import { inferenceStream, tenantStream, type InferenceEvent } from '../domain/inference.events.js';
import { availableBalance } from '../domain/tenant.decider.js';
import { inferenceCodec } from '../projections/models.projection.js';
import { tenantsProjection, type TenantDoc } from '../projections/tenants.projection.js';
import { BalanceHolds, HOLD_EXPIRED } from './balance-holds.js';
import { HoldSweeper } from './hold-sweeper.js';
import { TenantRepository, TenantsHandler } from './tenants.handler.js';

// Balance holds on the tenant's stream, on a real log. Each "replica" has an aggregate cache of its
// own over the same log, as processes of the service have: their cached states go stale, and the
// log's expected versions decide. The replicas see the log as one with concurrent writers, as they
// see Kafka.

const HOLD_MS = 60_000;

describe('balance holds across replicas', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  /** The same log, marked as one that other processes append to. */
  let shared: EmbeddedEventLog;
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  const replica = () => ({ holds: new BalanceHolds(new TenantRepository(shared), shared, clock, { holdMs: HOLD_MS }) });
  /** A replica that has read the tenant's stream before the race, as a warm process has (a hold of nothing records nothing). */
  const warm = async (r: ReturnType<typeof replica>, tenant: string) => r.holds.hold(tenant, `warm-${tenant}`, 0n);
  const keys = { hash: (k: string) => `h-${k}`, newKey: () => 'k'.repeat(20) };

  /** The tenants read model over the log, in memory, applying as the log grows. */
  async function tenantsReadModel() {
    const store = new MemoryDocumentStore();
    const projection = tenantsProjection as unknown as Projection<DomainEvent>;
    await store.prepare(projection.name, projection.collections);
    const runner = new ProjectionRunner(log, store, projection);
    await runner.start();
    return { store, runner };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opal-holds-'));
    log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    shared = new Proxy(log, {
      get(target, key) {
        if (key === 'concurrentWriters') return true;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  });
  after(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function tenantWith(id: string, amount: bigint): Promise<void> {
    const admin = new TenantsHandler(new TenantRepository(log), keys, clock);
    await admin.create({ tenantId: id, apiKey: `${id}-key-0123456789` });
    await admin.credit({ tenantId: id, amount: amount.toString(), reference: 'deposit' });
  }

  const recorded = async (inferenceId: string): Promise<InferenceEvent[]> =>
    (await log.readStream(inferenceStream(inferenceId))).map((e) => inferenceCodec.decode(e)!);

  it('replicas holding at once never hold more than the balance together', async () => {
    await tenantWith('busy', 1000n);
    const replicas = [replica(), replica(), replica()];
    // Every replica has the tenant cached before the race, as a warm process has.
    for (const r of replicas) await warm(r, 'busy');
    const tries = Array.from({ length: 30 }, (_, i) => replicas[i % 3]!.holds.hold('busy', `inf-busy-${i}`, 100n));
    const results = await Promise.allSettled(tries);
    const held = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    assert.equal(held, 10, 'exactly the balance is held');
    for (const e of refused) assert.ok(e.code === 'INSUFFICIENT_BALANCE' || (e instanceof EventLogError && e.code === 'VERSION_CONFLICT'), String(e));
    assert.ok(refused.some((e) => e.code === 'INSUFFICIENT_BALANCE'));
    const fresh = await new TenantRepository(log).peek(tenantStream('busy'));
    assert.equal(fresh.state.holds.size, 10);
    assert.equal(availableBalance(fresh.state), 0n);
  });

  it('every hold and settlement goes through when replicas keep racing to one tenant', async () => {
    await tenantWith('racing', 1_000_000n);
    const replicas = [replica(), replica(), replica()];
    for (const r of replicas) await warm(r, 'racing');
    const pairs = Array.from({ length: 90 }, async (_, i) => {
      const { holds } = replicas[i % 3]!;
      await holds.hold('racing', `inf-racing-${i}`, 100n);
      await new Promise((r) => setTimeout(r, i % 7));
      await holds.settle('racing', `inf-racing-${i}`, 60n);
    });
    const results = await Promise.allSettled(pairs);
    assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
    const s = (await new TenantRepository(log).peek(tenantStream('racing'))).state;
    assert.equal(s.holds.size, 0);
    assert.equal(s.charged, 90n * 60n);
  });

  it('a settled hold frees what it held beyond its fee, once, whichever replica settles it', async () => {
    await tenantWith('settles', 500n);
    const [a, b] = [replica(), replica()];
    await a.holds.hold('settles', 'inf-s-1', 400n);
    await assert.rejects(b.holds.hold('settles', 'inf-s-2', 200n), (e: any) => e.code === 'INSUFFICIENT_BALANCE' && /100 available/.test(e.message));
    await a.holds.settle('settles', 'inf-s-1', 150n);
    await b.holds.settle('settles', 'inf-s-1', 150n); // a retried settlement changes nothing
    await b.holds.hold('settles', 'inf-s-2', 350n);
    const s = (await new TenantRepository(log).peek(tenantStream('settles'))).state;
    assert.equal(s.charged, 150n);
    assert.equal(availableBalance(s), 0n);
  });

  it("a crashed replica's hold is settled after its expiry: with the fee it recorded, or closed with none", async () => {
    await tenantWith('crashy', 1000n);
    const crashed = replica();
    await crashed.holds.hold('crashy', 'inf-done', 400n);
    await crashed.holds.hold('crashy', 'inf-lost', 400n);
    // One recorded its outcome before the crash, the other nothing.
    const fee = { inputFee: '0', outputFee: '300', platformFee: '0', total: '300' };
    const completed: InferenceEvent = {
      type: 'InferenceCompleted',
      data: { inferenceId: 'inf-done', tenant: 'crashy', adapterId: 'a', baseModelId: 'b', datanetVersions: [], outputText: 'x', retrievedContributions: [], usage: { promptTokens: 1, completionTokens: 150 }, fee, adapterOwner: '', finishReason: 'length' },
    };
    await log.append(inferenceStream('inf-done'), [inferenceCodec.encode(completed, now)], { expectedVersion: 0, producer: 'inference' });

    const other = replica();
    // Before expiry both holds stand.
    await assert.rejects(other.holds.hold('crashy', 'inf-next', 300n), (e: any) => e.code === 'INSUFFICIENT_BALANCE');
    now += HOLD_MS;
    await other.holds.hold('crashy', 'inf-next', 300n);
    const s = (await new TenantRepository(log).peek(tenantStream('crashy'))).state;
    assert.equal(s.charged, 300n, 'the recorded fee is charged, the lost inference charges nothing');
    assert.deepEqual([...s.holds.keys()], ['inf-next']);
    const lost = await recorded('inf-lost');
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.type, 'InferenceFailed');
    assert.equal(lost[0]!.type === 'InferenceFailed' && lost[0]!.data.reason, HOLD_EXPIRED);
    // The lost inference can no longer charge: its stream is closed.
    await assert.rejects(
      log.append(inferenceStream('inf-lost'), [inferenceCodec.encode({ ...completed, data: { ...completed.data, inferenceId: 'inf-lost' } }, now)], { expectedVersion: 0, producer: 'inference' }),
      (e: any) => e.code === 'VERSION_CONFLICT',
    );
  });

  it('a credit made through another replica counts before a hold is refused', async () => {
    await tenantWith('topped', 100n);
    const r = replica();
    await warm(r, 'topped');
    await new TenantsHandler(new TenantRepository(log), keys, clock).credit({ tenantId: 'topped', amount: '500', reference: 'top-up' });
    await r.holds.hold('topped', 'inf-topped', 550n);
    await assert.rejects(r.holds.hold('topped', 'inf-topped-2', 51n), (e: any) => e.code === 'INSUFFICIENT_BALANCE' && /50 available/.test(e.message));
  });

  it('a hold of nothing (a free model) records nothing; an unknown tenant is refused', async () => {
    await tenantWith('free', 1n);
    const r = replica();
    const before = (await log.stats()).events;
    await r.holds.hold('free', 'inf-free', 0n);
    await r.holds.settle('free', 'inf-free', 0n);
    assert.equal((await log.stats()).events, before);
    await assert.rejects(r.holds.hold('nobody', 'inf-x', 1n), (e: any) => e.code === 'TENANT_NOT_FOUND');
  });

  it("the sweeper settles an idle tenant's expired holds, which the read model then shows free", async () => {
    await tenantWith('idle', 1000n);
    const crashed = replica();
    await crashed.holds.hold('idle', 'inf-idle-1', 300n);
    await crashed.holds.hold('idle', 'inf-idle-2', 200n);
    const { store, runner } = await tenantsReadModel();
    try {
      const tenantDoc = async () => {
        await runner.caughtUp();
        return (await store.get('inference_tenants', 'idle')) as TenantDoc;
      };
      assert.equal((await tenantDoc()).held, '500');
      const sweeper = new HoldSweeper(replica().holds, store, pino({ level: 'silent' }));
      // Holds left by the tests above expired with the clock moved on: this pass settles those.
      await sweeper.sweep();
      assert.equal((await tenantDoc()).held, '500', "this tenant's holds have not expired yet");
      now += HOLD_MS;
      assert.ok((await sweeper.sweep()) >= 2, "both of its holds, and any other tenant's that expired with them");
      const t = await tenantDoc();
      assert.equal(t.held, '0');
      assert.equal(t.holding, false);
      assert.equal(t.balance, '1000', 'neither inference recorded a fee');
      assert.equal(await sweeper.sweep(), 0, 'a second pass finds nothing to settle');
    } finally {
      await runner.stop();
    }
  });

  it('the sweeper goes on where its last pass stopped: tenants holding for longer than a pass reaches do not hide the rest', async () => {
    const crashed = replica();
    const expiring = ['sweep-c', 'sweep-d', 'sweep-e'];
    for (const id of expiring) {
      await tenantWith(id, 100n);
      await crashed.holds.hold(id, `inf-${id}`, 10n);
    }
    now += HOLD_MS;
    // Tenants first in id order whose holds have not expired (busy ones): a pass from the first
    // holding tenant on reads them and stops.
    for (const id of ['sweep-a', 'sweep-b']) {
      await tenantWith(id, 100n);
      await crashed.holds.hold(id, `inf-${id}`, 10n);
    }
    const { store, runner } = await tenantsReadModel();
    try {
      await runner.caughtUp();
      const holding = (await store.list('inference_tenants', { where: { holding: true } })) as TenantDoc[];
      const sweeper = new HoldSweeper(replica().holds, store, pino({ level: 'silent' }));
      for (let i = 0; i < Math.ceil(holding.length / 2) + 1; i++) await sweeper.sweep(2);
      await runner.caughtUp();
      for (const id of expiring) assert.equal(((await store.get('inference_tenants', id)) as TenantDoc).held, '0', id);
      for (const id of ['sweep-a', 'sweep-b']) assert.equal(((await store.get('inference_tenants', id)) as TenantDoc).held, '10', `${id}: not expired`);
    } finally {
      await runner.stop();
    }
  });

  it("an expired hold whose inference stream this release cannot read (a newer release's event) is left for one that can; the tenant's other holds go on", async () => {
    await tenantWith('upgrading', 1000n);
    const r = replica();
    await r.holds.hold('upgrading', 'inf-newer', 100n);
    await log.append(inferenceStream('inf-newer'), [{ type: 'opal.inference.v1.InferenceCancelledByANewerRelease', payload: Buffer.from([8, 1]), occurredAt: now }], { expectedVersion: 0, producer: 'inference' });
    now += HOLD_MS + 1;
    // Before, both spun without end on the stream they could not read.
    assert.equal(await r.holds.releaseExpired('upgrading'), 0);
    await r.holds.hold('upgrading', 'inf-after', 100n);
    const state = (await new TenantRepository(log).peek(tenantStream('upgrading'))).state;
    assert.deepEqual([...state.holds.keys()].sort(), ['inf-after', 'inf-newer']);
    assert.equal((await log.readStream(inferenceStream('inf-newer'))).length, 1, 'nothing appended to its stream');
  });
});
