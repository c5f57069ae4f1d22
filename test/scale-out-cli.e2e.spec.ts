import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { spawn } from 'node:child_process';
import { opalBin, runOpal } from '@opal/testkit';
import { appendAll, ingestAppends } from './scale-out/ingest-fixture.js';
import { deleteTopics, withKafkaAdmin } from '@opal/test-infra';
import { brokers, infra, skip } from './scale-out/fault-kit.js';

/** (stream, sequence) -> hash of every event in an export, whatever order the log gave them in. */
function exported(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { stream_id?: string; stream_seq?: number; hash?: string };
    if (e.stream_id !== undefined) out.set(`${e.stream_id}#${e.stream_seq}`, e.hash!);
  }
  return out;
}

// The auditor's path on Kafka: an exported embedded log imported into an empty cluster, exported
// back from Kafka, and replayed from Kafka to the same state digest as the embedded log.
describe('opal log import / export / replay against Kafka', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-cli-kafka-'));
  const prefix = `cli-${process.pid}-${Date.now()}.`;
  const kafka = { OPAL_EVENT_LOG: `kafka://${brokers}`, OPAL_KAFKA_TOPIC_PREFIX: prefix, OPAL_DATA_DIR: join(dir, 'unused') };
  const embedded = { OPAL_DATA_DIR: dir };
  const fromEmbedded = join(dir, 'embedded.jsonl');
  const fromKafka = join(dir, 'kafka.jsonl');
  const opal = async (args: string[], env: Record<string, string>) => {
    const r = await runOpal(args, env);
    assert.equal(r.code, 0, `opal ${args.join(' ')} exited with ${r.code}:\n${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    const log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
    await appendAll(log, ingestAppends(3000));
    await log.close();
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (!skip) await deleteTopics(brokers, prefix); // the resumed and other imports' topics too
  });

  it('imports an exported log into an empty cluster with the same ids, sequences and hashes', async () => {
    const streamsDigest = (out: string) => /streams digest ([0-9a-f]{64})/.exec(out)?.[1];
    const embeddedOut = await opal(['log', 'export', '--out', fromEmbedded], embedded);
    const imported = await opal(['log', 'import', fromEmbedded], kafka);
    assert.match(imported, /imported 3000 events in 40 streams/);
    const kafkaOut = await opal(['log', 'export', '--out', fromKafka], kafka);
    assert.match(await opal(['log', 'verify', fromKafka], {}), /^ok: 3000 events in 40 streams/);
    assert.deepEqual(exported(fromKafka), exported(fromEmbedded));
    // Kafka gives the events partition by partition, so the file-order digests differ; the streams
    // digest is how an operator checks the move with the CLI alone.
    assert.ok(streamsDigest(embeddedOut));
    assert.deepEqual([streamsDigest(imported), streamsDigest(kafkaOut)], [streamsDigest(embeddedOut), streamsDigest(embeddedOut)]);
  });

  it('refuses to import into a cluster that already holds events', async () => {
    const r = await runOpal(['log', 'import', fromEmbedded], kafka);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not empty \(3000 events in 40 streams\); if an import of this file into it was interrupted, run it again with --resume/);
  });

  it('goes on with an interrupted import (--resume), and refuses a target that held other streams', async () => {
    // What an import cut off part-way leaves: the start of every stream (the first 1,000 of the same events).
    const partialDir = join(dir, 'partial');
    const log = await EmbeddedEventLog.open(join(partialDir, 'log'), { fsync: false });
    await appendAll(log, ingestAppends(1000));
    await log.close();
    const partial = join(dir, 'partial.jsonl');
    await opal(['log', 'export', '--out', partial], { OPAL_DATA_DIR: partialDir });
    const resumed = { ...kafka, OPAL_KAFKA_TOPIC_PREFIX: `${prefix}resumed.` };
    await opal(['log', 'import', partial], resumed);
    assert.match(await opal(['log', 'import', fromEmbedded, '--resume'], resumed), /imported 2000 events \(1000 already there\) in 40 streams/);
    const again = join(dir, 'resumed.jsonl');
    await opal(['log', 'export', '--out', again], resumed);
    assert.deepEqual(exported(again), exported(fromEmbedded));
    // A target holding streams the file does not: the import ends refused, naming the counts.
    const other = { ...kafka, OPAL_KAFKA_TOPIC_PREFIX: `${prefix}other.` };
    const taggedDir = join(dir, 'tagged');
    const tagged = await EmbeddedEventLog.open(join(taggedDir, 'log'), { fsync: false });
    await appendAll(tagged, ingestAppends(100, 'x-'));
    await tagged.close();
    const taggedFile = join(dir, 'tagged.jsonl');
    await opal(['log', 'export', '--out', taggedFile], { OPAL_DATA_DIR: taggedDir });
    await opal(['log', 'import', taggedFile], other);
    const refused = await runOpal(['log', 'import', fromEmbedded, '--resume'], other);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /the target holds 3100 events in 80 streams, the file 3000 in 40: it held others before/);
    // That import did not complete: its mark stays, and nothing else connects to the log.
    const replayed = await runOpal(['replay'], other);
    assert.equal(replayed.code, 1);
    assert.match(replayed.stderr, new RegExp(`topics: ${prefix.replace(/\./g, '\\.')}other\\.import-under-way is there: an import into this log \\(opal log import\\) is under way or was cut off`));
  });

  it('an import killed part-way leaves the log marked: services, exports and replays refuse it until --resume completes it', async () => {
    const cut = { ...kafka, OPAL_KAFKA_TOPIC_PREFIX: `${prefix}cut.` };
    const importing = spawn(process.execPath, [opalBin, 'log', 'import', fromEmbedded], { env: { ...process.env, ...cut }, stdio: 'ignore' });
    const exited = new Promise((resolve) => importing.once('exit', resolve));
    // Killed once its mark is there, before its first append or some way into them.
    await withKafkaAdmin(brokers, async (admin) => {
      for (let i = 0; !(await admin.listTopics()).includes(`${prefix}cut.import-under-way`); i++) {
        assert.ok(i < 3000, 'the import marks the log before it appends');
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    importing.kill('SIGKILL');
    await exited;
    for (const args of [['up'], ['log', 'export', '--out', join(dir, 'cut.jsonl')], ['replay']]) {
      const r = await runOpal(args, { ...cut, OPAL_GRPC_PORT: '0', OPAL_DATA_DIR: join(dir, 'cut-data') });
      assert.equal(r.code, 1, `opal ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /import-under-way is there: .*finish it with `opal log import FILE --resume`/);
    }
    assert.match(await opal(['log', 'import', fromEmbedded, '--resume'], cut), /imported \d+ events( \(\d+ already there\))? in 40 streams/);
    const replay = JSON.parse(await opal(['replay', '--json'], cut)) as { digest: string; events: number };
    const local = JSON.parse(await opal(['replay', '--json'], embedded)) as { digest: string };
    assert.deepEqual([replay.events, replay.digest], [3000, local.digest]);
  });

  it('lists the dead-lettered events of the cluster (none here), and refuses the embedded log', async () => {
    assert.match(await opal(['log', 'dead-letters'], kafka), new RegExp(`^0 dead-lettered event\\(s\\) in ${prefix.replace(/\./g, '\\.')}dead-letter$`, 'm'));
    assert.equal(await opal(['log', 'dead-letters', '--json'], kafka), '');
    const embeddedRun = await runOpal(['log', 'dead-letters'], embedded);
    assert.notEqual(embeddedRun.code, 0);
    assert.match(embeddedRun.stderr, /give --event-log kafka/);
  });

  it('refuses one service alone on Kafka with the memory store: the other services could not read its content', async () => {
    const r = await runOpal(['serve', 'ingest'], { ...kafka, OPAL_STORE: 'memory', OPAL_GRPC_PORT: '0' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /OPAL_STORE: ingest alone on Kafka needs the MongoDB store/);
  });

  it('replays the Kafka log to the state digest of the embedded one', async () => {
    const onKafka = JSON.parse(await opal(['replay', '--json'], kafka)) as { digest: string; events: number };
    const local = JSON.parse(await opal(['replay', '--json'], embedded)) as { digest: string; events: number };
    assert.equal(onKafka.events, 3000);
    assert.equal(onKafka.digest, local.digest);
    // Nothing set aside here: the same digest, nothing left out.
    const skipping = JSON.parse(await opal(['replay', '--json', '--skip-dead-lettered'], kafka)) as { digest: string; leftOut: unknown[] };
    assert.deepEqual([skipping.digest, skipping.leftOut], [local.digest, []]);
    const embeddedRun = await runOpal(['replay', '--skip-dead-lettered'], embedded);
    assert.equal(embeddedRun.code, 2);
    assert.match(embeddedRun.stderr, /--skip-dead-lettered is for a Kafka log/);
  });

  const secure = infra.skipped ? undefined : infra.endpoints.kafkaSecure;
  it('reads the same cluster through its TLS + SASL listener, and names the setting it refuses', { skip: secure ? false : 'no TLS listener among these servers' }, async () => {
    const tls = {
      ...kafka,
      OPAL_EVENT_LOG: `kafka://${secure!.brokers}`,
      OPAL_KAFKA_TLS_CA_FILE: secure!.caFile,
      OPAL_KAFKA_SASL_MECHANISM: 'plain',
      OPAL_KAFKA_SASL_USERNAME: secure!.username,
      OPAL_KAFKA_SASL_PASSWORD: secure!.password,
    };
    const onTls = JSON.parse(await opal(['replay', '--json'], tls)) as { digest: string; events: number };
    const local = JSON.parse(await opal(['replay', '--json'], embedded)) as { digest: string; events: number };
    assert.deepEqual([onTls.events, onTls.digest], [local.events, local.digest]);
    const refused = await runOpal(['replay', '--json'], { ...tls, OPAL_KAFKA_SASL_PASSWORD: 'not-the-password' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /sasl: kafka at .* refused user 'opal' \(plain\)/);
    assert.doesNotMatch(refused.stderr + refused.stdout, /not-the-password/, 'the password is not printed');
    const unset = await runOpal(['replay', '--json'], { ...tls, OPAL_KAFKA_SASL_PASSWORD: '' });
    assert.notEqual(unset.code, 0);
    assert.match(unset.stderr, /OPAL_KAFKA_SASL_PASSWORD: required with OPAL_KAFKA_SASL_MECHANISM/);
  });
});
