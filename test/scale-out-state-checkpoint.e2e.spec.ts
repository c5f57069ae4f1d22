// Scaled out, a projection's read model resumes from the checkpoint stored with it in MongoDB, not
// from what its Kafka consumer group committed: the two part ways when the database is not the one
// the group's members wrote to (a new database on the same topics, or one restored from a backup),
// and following the group then left out every event before its offsets, silently.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { ProjectionRunner, type DomainEvent, type Projection } from '@opal/event-sourcing';
import { MongoDocumentStore } from '@opal/document-store-mongo';
import { projectionDigest } from '@opal/service-runtime';
import { ingestContributionsProjection } from '@opal/ingest';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { runOpal } from '@opal/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendAll, cleanDigests, ingestAppends } from './scale-out/ingest-fixture.js';
import { brokers, mongoBase, platformLog, run, skip } from './scale-out/fault-kit.js';

const projection = ingestContributionsProjection as unknown as Projection<DomainEvent>;

describe('a read model resumes from its own checkpoint, whatever its consumer group committed', { skip, timeout: 180_000 }, () => {
  const prefix = `state-checkpoint-${run}.`;
  const first = `${mongoBase}/opal_state_a_${process.pid}`;
  const second = `${mongoBase}/opal_state_b_${process.pid}`;
  const closers: (() => Promise<void>)[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'opal-state-checkpoint-'));
  closers.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    for (const url of [first, second]) await dropDb(url).catch(() => {});
    await deleteTopics([brokers], prefix).catch(() => {});
  });

  const digestOf = async (url: string) => {
    const store = await MongoDocumentStore.connect({ url });
    try {
      return (await projectionDigest(store, 'ingest', projection, 0)).digest;
    } finally {
      await store.close();
    }
  };
  const catchUp = async (url: string) => {
    const store = await MongoDocumentStore.connect({ url });
    const runner = new ProjectionRunner(log, store, projection);
    await runner.start();
    await runner.caughtUp();
    await runner.stop();
    await store.close();
  };
  let log: Awaited<ReturnType<typeof platformLog>>;

  it('a new database on the same topics gets every event; one restored from a backup gets those after its backup', async () => {
    log = await platformLog(brokers, prefix);
    closers.push(() => log.close());
    const before = ingestAppends(2000, 'a-');
    const later = ingestAppends(2000, 'b-');
    await appendAll(log, before);
    await catchUp(first);

    // The same projection (so the same consumer group) on a database of its own: it must apply the
    // events the group's members had already committed for the first database.
    await catchUp(second);
    const expectedBefore = (await cleanDigests(before)).find((d) => d.projection === projection.name)!.digest;
    assert.equal(await digestOf(second), expectedBefore, 'a new database holds every event of the log');

    // A backup of the first database, taken now; more events, applied; then the backup restored.
    const client = await MongoClient.connect(first);
    closers.push(() => client.close());
    const db = client.db();
    const backup = new Map<string, unknown[]>();
    for (const c of await db.listCollections().toArray()) backup.set(c.name, await db.collection(c.name).find({}).toArray());
    await appendAll(log, later);
    await catchUp(first);
    for (const [name, docs] of backup) {
      await db.collection(name).deleteMany({});
      if (docs.length > 0) await db.collection(name).insertMany(docs as never[]);
    }
    // The operator sees how far the restored database is behind the log: the events after the
    // backup, whatever the consumer group committed.
    const behind = async () => {
      const r = await runOpal(['read-models', '--json'], { OPAL_EVENT_LOG: `kafka://${brokers}`, OPAL_KAFKA_TOPIC_PREFIX: prefix, OPAL_STORE: first, OPAL_DATA_DIR: dataDir });
      assert.equal(r.code, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { projection: string; version: number; behind: number });
      return rows.find((row) => row.projection === projection.name && row.version === 1)!.behind;
    };
    assert.equal(await behind(), later.reduce((n, a) => n + a.events.length, 0));
    // Restarted on the restored database: the events after the backup are applied again.
    await catchUp(first);
    assert.equal(await behind(), 0);
    const expectedAll = (await cleanDigests([...before, ...later])).find((d) => d.projection === projection.name)!.digest;
    assert.equal(await digestOf(first), expectedAll, 'the restored database catches up from its own checkpoint');
    await catchUp(second);
    assert.equal(await digestOf(second), expectedAll);
  });

  it('two processes starting on a new database share the partitions and together apply every event', async () => {
    const third = `${mongoBase}/opal_state_c_${process.pid}`;
    closers.push(() => dropDb(third));
    // The group's offsets are at the end of the log now (the databases above).
    const members = await Promise.all(
      [0, 1].map(async () => {
        const store = await MongoDocumentStore.connect({ url: third });
        const runner = new ProjectionRunner(log, store, projection);
        return { store, runner };
      }),
    );
    await Promise.all(members.map((m) => m.runner.start()));
    const more = ingestAppends(2000, 'c-');
    await appendAll(log, more);
    await Promise.all(members.map((m) => m.runner.caughtUp()));
    for (const m of members) {
      await m.runner.stop();
      await m.store.close();
    }
    const all = [...ingestAppends(2000, 'a-'), ...ingestAppends(2000, 'b-'), ...more];
    const expected = (await cleanDigests(all)).find((d) => d.projection === projection.name)!.digest;
    assert.equal(await digestOf(third), expected);
  });
});
