import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedEventLog } from '@opal/event-log';
import { DatanetRepository } from './datanet.repository.js';
import { decideCreate, decideSubmit } from '../domain/datanet.decider.js';
import { datanetStream } from '../domain/ingest.events.js';
import { datanetWeight } from '../domain/datanet.state.js';
import { contentHashOf } from '../domain/identifiers.js';
import { minhash } from '../domain/near-duplicate.js';

const owner = '0x00000000000000000000000000000000000A11CE';

describe('DatanetRepository within its memory budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-datanet-budget-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('drops the Datanets used least recently and decides on their whole history once they load again', async () => {
    const log = await EmbeddedEventLog.open(dir, { fsync: false });
    const dropped: string[] = [];
    // Room for about two of these Datanets: a Datanet's first contributions weigh a few hundred KB (its index's first arrays).
    const logger = { info: (o: { streamId: string }) => dropped.push(o.streamId), warn: () => {} } as never;
    const probe = new DatanetRepository(log);
    const repo = new DatanetRepository(log, { datanetCacheBytes: 1 }, logger);
    let nonce = 0;
    const submit = async (datanetId: string, text: string) => {
      const content = Buffer.from(text);
      const cmd = { contributionId: `0x${(++nonce).toString(16).padStart(64, '0')}`, contributor: owner, nonce: BigInt(nonce), signature: new Uint8Array(65), contentHash: contentHashOf(content), sizeBytes: content.length, contentProblem: undefined, minhash: minhash(text) };
      const now = 1_760_000_000_000;
      const decided = await repo.execute(datanetStream(datanetId), { now }, (s) => {
        const d = decideSubmit(s, cmd, now);
        return { events: d.events, result: d.outcome };
      });
      return decided.result;
    };
    try {
      for (const id of ['ds-a', 'ds-b', 'ds-c']) {
        await repo.execute(datanetStream(id), { now: 1 }, (s) => ({ events: decideCreate(s, { datanetId: id, name: id, description: '', tags: [], dataKind: 'text', jsonSchema: '', license: 'MIT', owner, policy: { maxItemBytes: 4096, dailyQuota: 0, reviewRequired: false, nearDuplicatePpm: 800_000, validators: [] } }), result: undefined }));
      }
      const text = (id: string, k: number) => `item ${k} of ${id}: ${Array.from({ length: 30 }, (_, w) => `w${Math.imul(k * 30 + w + 1, 0x9e3779b1) >>> 12}`).join(' ')}`;
      for (let k = 0; k < 20; k++) for (const id of ['ds-a', 'ds-b', 'ds-c']) assert.equal((await submit(id, text(id, k))).status, 'ACCEPTED');
      assert.ok(dropped.length >= 59, `each command drops the Datanet used before it: ${dropped.length}`);
      assert.ok(repo.cachedWeight <= datanetWeight((await probe.peek(datanetStream('ds-c'))).state), 'only the Datanet used last is kept');
      // Loaded again from the log, each knows what it took: a copy is refused, a new text taken.
      for (const id of ['ds-a', 'ds-b', 'ds-c']) {
        const copy = await submit(id, text(id, 7));
        assert.equal(copy.status, 'REJECTED');
        assert.equal(copy.reason, 'DUPLICATE');
        assert.equal((await submit(id, text(id, 99))).status, 'ACCEPTED');
        const reloaded = await repo.peek(datanetStream(id));
        const whole = await new DatanetRepository(log).peek(datanetStream(id));
        assert.deepEqual([reloaded.version, reloaded.state.accepted], [whole.version, whole.state.accepted]);
      }
    } finally {
      await log.close();
    }
  });
});
