// Moving a platform from one machine to a cluster: the log with `opal log export` / `log import`,
// and the contents its contributions name (the log holds only their hashes) with `opal content
// export` / `content import`. The cluster then serves the contents and indexes new versions of the
// Datanets from them.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpalProcess, call, grpcClient, runOpal, signContribution, wallet, withOutputOnFailure } from '@opal/testkit';
import { deleteTopics, dropDb } from '@opal/test-infra';
import { brokers, scenario, skip } from './scale-out/fault-kit.js';

const ITEMS = 12;

describe('moving a platform to a cluster: the log and the contents it names', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-content-move-'));
  const s = scenario('content-move');
  const machine = { OPAL_DATA_DIR: join(dir, 'machine') };
  const cluster = { ...s.env, OPAL_DATA_DIR: join(dir, 'cluster') };
  const opal = async (args: string[], env: Record<string, string>) => {
    const r = await runOpal(args, env);
    assert.equal(r.code, 0, `opal ${args.join(' ')} exited with ${r.code}:\n${r.stderr}`);
    return r.stdout;
  };
  const sent: { hash: string; content: Buffer }[] = [];
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (!skip) {
      await dropDb(s.url).catch(() => {});
      await deleteTopics(brokers, s.prefix).catch(() => {});
    }
  });

  it('exports the contents the log names from a machine, and refuses to when its store lacks one', async () => {
    const node = new OpalProcess(machine.OPAL_DATA_DIR);
    await node.start();
    await withOutputOnFailure({ node }, async () => {
      const ingest = grpcClient(node.url, 'ingest');
      await call(ingest, 'createDatanet', { datanetId: 'moved', name: 'Moved', dataKind: 'text', license: 'MIT', owner: wallet(0).address, policy: { maxItemBytes: 4096 } });
      const w = wallet(41);
      for (let i = 0; i < ITEMS; i++) {
        const content = Buffer.from(`moved item ${i}: ${Array.from({ length: 30 }, (_, k) => `w${(i * 7919 + k * 131) % 9973}`).join(' ')}`);
        const r = await call(ingest, 'submitContribution', { datanetId: 'moved', content, contributor: w.address, nonce: String(i + 1), signature: await signContribution(w, 'moved', content, BigInt(i + 1)) });
        assert.equal(r.status, 'ACCEPTED');
        sent.push({ hash: r.contentHash, content });
      }
      await call(ingest, 'publishVersion', { datanetId: 'moved' });
      ingest.close();
    });
    await node.stop();
    await opal(['log', 'export', '--out', join(dir, 'log.jsonl')], machine);
    assert.match(await opal(['content', 'export', '--out', join(dir, 'contents.pack')], machine), new RegExp(`^exported ${ITEMS} contents \\(\\d+ bytes\\)`));
    // A data folder with the log and not its contents (as a copy of the log file alone would be).
    const bare = join(dir, 'bare');
    cpSync(join(machine.OPAL_DATA_DIR, 'log'), join(bare, 'log'), { recursive: true });
    const r = await runOpal(['content', 'export', '--out', join(dir, 'bare.pack')], { OPAL_DATA_DIR: bare });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${ITEMS} content\\(s\\) the log names are not in the content store \\(${sent[0]!.hash}, .*nothing was written`));
    assert.equal(existsSync(join(dir, 'bare.pack')) || existsSync(join(dir, 'bare.pack.partial')), false);
  });

  it('imports them beside the imported log: the cluster serves every content, and builds a new version\'s index from them', async () => {
    assert.match(await opal(['log', 'import', join(dir, 'log.jsonl')], cluster), /move them with `opal content export` and `opal content import`/);
    assert.match(await opal(['content', 'import', join(dir, 'contents.pack')], cluster), new RegExp(`^imported ${ITEMS} contents \\(\\d+ bytes\\) into mongodb://[^ ]+; each matched its hash`));
    // Again: what is there is left as it is.
    assert.match(await opal(['content', 'import', join(dir, 'contents.pack')], cluster), new RegExp(`^imported ${ITEMS} contents`));
    // And out of the cluster again (a backup, a move on): from the log on Kafka and MongoDB's contents.
    assert.match(await opal(['content', 'export', '--out', join(dir, 'from-cluster.pack')], cluster), new RegExp(`^exported ${ITEMS} contents`));
    assert.equal(readFileSync(join(dir, 'from-cluster.pack')).length, readFileSync(join(dir, 'contents.pack')).length);
    const node = new OpalProcess(cluster.OPAL_DATA_DIR, { env: cluster });
    await node.start();
    await withOutputOnFailure({ node }, async () => {
      const ingest = grpcClient(node.url, 'ingest');
      const attribution = grpcClient(node.url, 'attribution');
      for (const { hash, content } of sent) assert.deepEqual(Buffer.from((await call(ingest, 'getContent', { contentHash: hash })).content), content);
      // The version published on the machine is indexed here from the imported contents.
      let indexes: { datanetId: string; version: number }[] = [];
      for (let i = 0; i < 200 && indexes.length === 0; i++) {
        indexes = (await call(attribution, 'listIndexes', { datanetId: 'moved' })).indexes;
        if (indexes.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(indexes.map((x) => [x.datanetId, x.version]), [['moved', 1]]);
      ingest.close();
      attribution.close();
    });
    await node.stop();
  });

  it('refuses an export holding bytes that do not match their hash, naming it', async () => {
    const bytes = readFileSync(join(dir, 'contents.pack'));
    // One byte of the last content flipped, and its record's CRC made to match: only the hash tells.
    const tampered = join(dir, 'tampered.pack');
    const copy = Buffer.from(bytes);
    copy[copy.length - 1]! ^= 0x01;
    const { frameRecord } = await import('@opal/event-log');
    const lastLength = sent.at(-1)!.content.length + 32;
    const body = copy.subarray(copy.length - lastLength);
    writeFileSync(tampered, Buffer.concat([copy.subarray(0, copy.length - lastLength - 8), frameRecord(body)]));
    const r = await runOpal(['content', 'import', tampered], { OPAL_DATA_DIR: join(dir, 'tampered-target') });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hashes to 0x[0-9a-f]{64}, not 0x[0-9a-f]{64} as recorded/);
  });
});
