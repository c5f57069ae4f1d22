import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { contentHashOf, contributionIdOf, ingestCodec } from '@opal/ingest';
import 'reflect-metadata';
import { DatanetRepository } from '../services/ingest/dist/application/datanet.repository.js';
import { wallet } from '@opal/testkit';
const N = Number(process.argv[2] ?? 200000);
const dir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'agg-'));
const loadOnly = process.argv[4] === 'load';
if (!loadOnly) {
var log = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
const contributors = Array.from({ length: 200 }, (_, i) => wallet(i).address);
const d = 'big';
await log.append('datanet-big', [ingestCodec.encode({ type: 'DatanetCreated', data: { datanetId: d, name: d, description: 'b', tags: [], dataKind: 'text', jsonSchema: '', license: 'CC0-1.0', owner: contributors[0], policy: { maxItemBytes: 65536, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 800_000, validators: [] } } }, 1)], { expectedVersion: 0, producer: 'ingest' });
const minhash = new Uint8Array(512).map((_, i) => (i * 31) & 0xff);
const signature = new Uint8Array(65).fill(7);
let batch = [];
for (let i = 0; i < N; i++) {
  const contributor = contributors[i % 200]; const nonce = BigInt(i + 1);
  const contributionId = contributionIdOf(d, contributor, nonce);
  const contentHash = contentHashOf(new TextEncoder().encode(`content ${i}`));
  const mh = minhash.slice(); mh[0] = i & 255; mh[1] = (i >> 8) & 255; mh[2] = (i>>16)&255;
  batch.push(ingestCodec.encode({ type: 'ContributionSubmitted', data: { datanetId: d, contributionId, contributor, contentHash, sizeBytes: 1024, nonce, signature, minhash: mh } }, 2));
  batch.push(ingestCodec.encode({ type: 'ContributionAccepted', data: { datanetId: d, contributionId, contributor, contentHash, sizeBytes: 1024 } }, 2));
  if (batch.length >= 2000) { await log.append('datanet-big', batch, { expectedVersion: 'any', producer: 'ingest' }); batch = []; }
}
if (batch.length) await log.append('datanet-big', batch, { expectedVersion: 'any', producer: 'ingest' });
await log.close();
}
const log2 = await EmbeddedEventLog.open(join(dir, 'log'), { fsync: false });
const repo = new DatanetRepository(log2);
const m0 = process.memoryUsage().heapUsed; const t0 = performance.now(); const c0 = process.cpuUsage();
const e = await repo.peek('datanet-big');
const c1 = process.cpuUsage(c0); console.log(`N=${N} cpu ${((c1.user+c1.system)/1000).toFixed(0)} ms load ${(performance.now()-t0).toFixed(0)} ms version ${e.version} heap +${((process.memoryUsage().heapUsed-m0)/1e6).toFixed(0)} MB`);
