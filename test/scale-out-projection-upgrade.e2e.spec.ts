// A rolling upgrade that changes a projection, scaled out: processes of the new version (a read
// model of version 2) start while those of version 1 still run, on the same Kafka topics and the
// same MongoDB database. Each version must end with the digest of one clean pass of its own code,
// and version 1, restarted (a rollback), must resume its own state, not build it again.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { EmbeddedEventLog } from '@opal/event-log';
import { MemoryDocumentStore, ProjectionRunner, type DocumentStore, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { MongoDocumentStore } from '@opal/document-store-mongo';
import { projectionDigest } from '@opal/service-runtime';
import { ingestContributionsProjection } from '@opal/ingest';
import { deleteTopics, dropDb, withKafkaAdmin } from '@opal/test-infra';
import { runOpal } from '@opal/testkit';
import { appendAll, ingestAppends, type Append } from './scale-out/ingest-fixture.js';
import { brokers, platformLog, scenario, skip } from './scale-out/fault-kit.js';

const v1 = ingestContributionsProjection as unknown as Projection<DomainEvent>;
/** Version 2: every document also says which version wrote it (a new field, as real upgrades add). */
const v2: Projection<DomainEvent> = { ...v1, version: 2, evolve: (ref, doc, e) => stamped(v1.evolve(ref, doc, e)) };

function stamped<D>(doc: D): D {
  return doc && typeof doc === 'object' ? { ...doc, writtenBy: 2 } : doc;
}

async function digestOf(store: DocumentStore, p: Projection<DomainEvent>, applied: number) {
  return (await projectionDigest(store, 'ingest', p, applied)).digest;
}

/** One clean pass of `p` over these appends: the embedded log, the memory store. */
async function cleanDigest(p: Projection<DomainEvent>, appends: readonly Append[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'opal-upgrade-clean-'));
  const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
  try {
    await appendAll(log, appends);
    const store = new MemoryDocumentStore();
    const runner = new ProjectionRunner(log, store, p);
    await runner.start();
    await runner.caughtUp();
    await runner.stop();
    return digestOf(store, p, runner.appliedEvents);
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a projection upgraded while its version before still runs, on Kafka and MongoDB', { skip, timeout: 180_000 }, () => {
  const s = scenario('projection-upgrade');
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await dropDb(s.url).catch(() => {});
    await deleteTopics([brokers], s.prefix).catch(() => {});
  });

  it('each version builds and keeps its own read model; version 1 restarted resumes its own', async () => {
    const log = await platformLog(brokers, s.prefix);
    closers.push(() => log.close());
    // Each runner as its own process would hold it: a store connection of its own.
    const running = async (p: Projection<DomainEvent>) => {
      const store = await MongoDocumentStore.connect({ url: s.url });
      const seen = { rebuilt: [] as unknown[], committed: 0 };
      const runner = new ProjectionRunner(log, store, p, { onRebuild: (v) => seen.rebuilt.push(v), onCommitted: (b) => (seen.committed += b.events) });
      await runner.start();
      closers.push(async () => {
        await runner.stop();
        await store.close();
      });
      return { store, runner, seen };
    };
    const count = (appends: readonly Append[]) => appends.reduce((n, a) => n + a.events.length, 0);
    const first = ingestAppends(3000, 'a-');
    const second = ingestAppends(3000, 'b-');
    const third = ingestAppends(600, 'c-');

    const old = await running(v1);
    await appendAll(log, first);
    await old.runner.caughtUp();
    // Version 2 starts while version 1 keeps applying what comes.
    const upgraded = await running(v2);
    await appendAll(log, second, { parallel: 8 });
    await Promise.all([old.runner.caughtUp(), upgraded.runner.caughtUp()]);
    const both = [...first, ...second];
    assert.equal(await digestOf(old.store, v1, old.runner.appliedEvents), await cleanDigest(v1, both), 'version 1 as one clean pass of its own');
    assert.equal(await digestOf(upgraded.store, v2, upgraded.runner.appliedEvents), await cleanDigest(v2, both), 'version 2 as one clean pass of its own');
    assert.deepEqual(upgraded.seen.rebuilt, [], 'version 2 never had version 1 state under its names');
    assert.equal(upgraded.seen.committed, count(both), 'version 2 applied every event from offset zero');

    // The documents of each version where the other's processes do not touch them.
    const client = await new MongoClient(s.url).connect();
    closers.push(() => client.close());
    const names = (await client.db().listCollections().toArray()).map((c) => c.name).sort();
    assert.ok(names.includes('ingest_contributions') && names.includes('ingest_contributions_v2'), names.join(', '));
    assert.equal(await client.db().collection('ingest_contributions_v2').countDocuments({ writtenBy: { $ne: 2 } }), 0);
    assert.equal(await client.db().collection('ingest_contributions').countDocuments({ writtenBy: 2 }), 0);

    // A rollback: version 1 stops, then starts again and goes on from where its group was.
    await old.runner.stop();
    await appendAll(log, third);
    const back = await running(v1);
    await back.runner.caughtUp();
    assert.deepEqual(back.seen.rebuilt, []);
    assert.ok(back.seen.committed >= count(third) && back.seen.committed < count(both), `resumed, not rebuilt: ${back.seen.committed} events applied`);
    const v1Digest = await cleanDigest(v1, [...both, ...third]);
    assert.equal(await digestOf(back.store, v1, back.runner.appliedEvents), v1Digest);

    // The operator's view: both versions, each with its process; prune keeps the one still running.
    const env = { ...s.env, OPAL_DATA_DIR: mkdtempSync(join(tmpdir(), 'opal-upgrade-cli-')) };
    closers.push(async () => rmSync(env.OPAL_DATA_DIR, { recursive: true, force: true }));
    const rows = async (args: string[]) => {
      const r = await runOpal(['read-models', ...args, '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { projection: string; version: number; current: boolean; processes: number; outcome?: string; applied?: number; collections: { stored: string; documents: number }[] });
    };
    const mine = (all: Awaited<ReturnType<typeof rows>>) => all.filter((r) => r.projection === v1.name).map((r) => ({ version: r.version, current: r.current, processes: r.processes, outcome: r.outcome }));
    const listed = await rows([]);
    assert.deepEqual(mine(listed), [{ version: 1, current: true, processes: 1, outcome: undefined }, { version: 2, current: false, processes: 1, outcome: undefined }]);
    assert.deepEqual(listed.find((r) => r.version === 2)!.collections.map((c) => c.stored).sort(), ['ingest_contributions_v2', 'ingest_contributors_v2']);
    assert.deepEqual(mine(await rows(['prune'])).map((r) => r.outcome), [undefined, 'kept: 1 process(es) still run it']);
    // Once version 2's processes are gone, prune drops its read model and its consumer group.
    await upgraded.runner.stop();
    assert.deepEqual(mine(await rows(['prune'])).map((r) => r.outcome), [undefined, 'dropped']);
    assert.deepEqual(mine(await rows([])), [{ version: 1, current: true, processes: 1, outcome: undefined }]);
    const left = (await client.db().listCollections().toArray()).map((c) => c.name);
    assert.ok(!left.some((n) => n.endsWith('_v2')), left.join(', '));
    assert.equal(await client.db().collection('_checkpoints').countDocuments({ _id: `${v1.name}@v2` } as never), 0);
    const groups = (await withKafkaAdmin(brokers, (admin) => admin.listGroups())).groups.map((g) => g.groupId);
    assert.ok(groups.includes(`${s.prefix}projection.${v1.name}`) && !groups.includes(`${s.prefix}projection.${v1.name}.v2`), groups.join(', '));
    assert.equal(await digestOf(back.store, v1, back.runner.appliedEvents), v1Digest, 'version 1 untouched');
  });
});
