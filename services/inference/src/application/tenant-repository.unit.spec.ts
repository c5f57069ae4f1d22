import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemorySnapshotStore } from '@opal/event-sourcing';
import { countingReads } from '@opal/event-sourcing/testing';
import { tenantStream, type InferenceEvent } from '../domain/inference.events.js';
import { tenantSnapshot } from '../domain/tenant.snapshot.js';
import { decideCreateTenant, decideCreditTenant, tenantWeight } from '../domain/tenant.decider.js';
import { ProcessMetrics } from '@opal/service-runtime';
import { inferenceCodec } from '../projections/models.projection.js';
import { TenantRepository } from './tenants.handler.js';

describe('TenantRepository snapshots', () => {
  it("loads a busy tenant from its snapshot and the inferences after it, to the state of its whole stream", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-tenant-snapshots-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    const stream = tenantStream('busy');
    let version = 0;
    const append = async (events: InferenceEvent[]) => {
      await log.append(stream, events.map((e) => inferenceCodec.encode(e, 1)), { expectedVersion: version, producer: 'inference' });
      version += events.length;
    };
    const inferences = async (from: number, to: number, open = 0) => {
      for (let i = from; i < to; i += 500) {
        const batch: InferenceEvent[] = [];
        for (let j = i; j < Math.min(to, i + 500); j++) {
          batch.push({ type: 'BalanceHeld', data: { tenant: 'busy', inferenceId: `inf-${j}`, amount: '1000', expiresAt: BigInt(j) } });
          if (j < to - open) batch.push({ type: 'HoldSettled', data: { tenant: 'busy', inferenceId: `inf-${j}`, charged: '700', amount: '1000' } });
        }
        await append(batch);
      }
    };
    try {
      await append([
        { type: 'TenantCreated', data: { tenant: 'busy', apiKeyHash: 'h' } },
        { type: 'TenantCredited', data: { tenant: 'busy', amount: '100000000', reference: 'r1' } },
      ]);
      await inferences(0, 6000, 3); // 11,997 events past the start, 3 holds open
      const snapshots = new MemorySnapshotStore();
      const first = countingReads(log);
      const loaded = await new TenantRepository(first.log, snapshots).peek(stream);
      assert.equal(first.read(), version, 'no snapshot yet: the whole stream');
      assert.equal((await snapshots.load(stream))?.streamVersion, version, `saved: more than ${tenantSnapshot.every} events folded`);
      await inferences(6000, 6100);
      const second = countingReads(log);
      const again = await new TenantRepository(second.log, snapshots).peek(stream);
      assert.deepEqual(again, await new TenantRepository(log).peek(stream));
      assert.equal(second.read(), 1 + 200, 'the event at the snapshot and the 200 after it');
      assert.equal(again.state.holds.size, 3);
      assert.equal(again.state.charged, (5997n + 100n) * 700n);
      assert.notDeepEqual(loaded.state.charged, again.state.charged);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TenantRepository within its memory budget', () => {
  it('drops the tenants used least recently and decides on their whole history once they load again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opal-tenant-budget-'));
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    const metrics = new ProcessMetrics();
    const probe = new TenantRepository(log);
    // Room for about three tenants of three credits each.
    const budget = 3 * (tenantWeight({ created: true, apiKeyHash: 'h', references: new Map([['a', 1n], ['b', 1n], ['c', 1n]]), credited: 0n, charged: 0n, holds: new Map() }) + 1);
    const repo = new TenantRepository(log, undefined, undefined, { tenantCacheBytes: budget }, metrics);
    const ids = Array.from({ length: 10 }, (_, i) => `budget-${i}`);
    const credit = (tenant: string, reference: string, amount: bigint) =>
      repo.execute(tenantStream(tenant), { now: 1 }, (s) => ({ events: decideCreditTenant(s, { tenant, amount, reference }), result: undefined }));
    try {
      for (const tenant of ids) await repo.execute(tenantStream(tenant), { now: 1 }, (s) => ({ events: decideCreateTenant(s, { tenant, apiKeyHash: `h-${tenant}` }), result: undefined }));
      for (const reference of ['r1', 'r2', 'r3']) for (const [i, tenant] of ids.entries()) await credit(tenant, reference, BigInt(100 + i));
      assert.ok(repo.cachedWeight <= budget, `within the budget: ${repo.cachedWeight} <= ${budget}`);
      const dropped = Number(/opal_aggregate_cache_dropped_total\{cache="tenants"\} (\d+)/.exec(await metrics.exposition())?.[1]);
      assert.ok(dropped >= 7 * 3, `each credit of the rounds dropped a tenant used before it: ${dropped}`);
      // Loaded again from the log, each knows its references and their amounts: the same credit
      // again credits nothing, another amount under it is refused, a new one credits.
      for (const [i, tenant] of ids.entries()) {
        assert.deepEqual((await credit(tenant, 'r2', BigInt(100 + i))).stored, []);
        await assert.rejects(credit(tenant, 'r2', 999n), /already credited/);
        assert.equal((await credit(tenant, 'r4', 1n)).stored.length, 1);
        const reloaded = await repo.peek(tenantStream(tenant));
        const whole = await probe.peek(tenantStream(tenant));
        assert.deepEqual([reloaded.version, reloaded.state], [whole.version, whole.state]);
        assert.equal(reloaded.state.credited, 3n * BigInt(100 + i) + 1n);
      }
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
