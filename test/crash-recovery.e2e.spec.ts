import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { OpalProcess, runOpal, call, grpcClient, signContribution, wallet, rng, text, vocabulary } from '@opal/testkit';

const enc = new TextEncoder();

describe('crash recovery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-crash-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged contribution exactly once across SIGKILLs, with hash chains intact', async () => {
    const node = new OpalProcess(dir);
    await node.start();
    let ingest = grpcClient(node.url, 'ingest');
    const owner = wallet(0).address;
    await call(ingest, 'createDatanet', { datanetId: 'crash-net', name: 'Crash', dataKind: 'text', license: 'MIT', owner });

    const r = rng(7);
    const vocab = vocabulary(4000);
    const contributors = Array.from({ length: 4 }, (_, i) => wallet(500 + i));
    const requests: any[] = [];
    for (let i = 0; i < 1200; i++) {
      const w = contributors[i % 4]!;
      const content = enc.encode(text(r, vocab, 600));
      const nonce = BigInt(i + 1);
      requests.push({ datanetId: 'crash-net', content: Buffer.from(content), contributor: w.address, nonce: nonce.toString(), signature: await signContribution(w, 'crash-net', content, nonce) });
    }
    const acknowledged = new Map<number, string>();
    let next = 0;
    for (const killAfter of [250, 650, 1000]) {
      // Keep 32 unary submissions in flight; SIGKILL once `killAfter` have been acknowledged.
      let killed = false;
      await new Promise<void>((resolve) => {
        const pump = () => {
          if (killed) return;
          if (next >= requests.length) return resolve();
          const i = next++;
          call(ingest, 'submitContribution', requests[i])
            .then((res) => {
              acknowledged.set(i, res.contributionId);
              if (!killed && acknowledged.size >= killAfter) {
                killed = true;
                void node.kill().then(() => resolve());
              } else pump();
            })
            .catch(() => {
              if (!killed) pump();
            });
        };
        for (let k = 0; k < 32; k++) pump();
      });
      ingest.close();
      await node.start();
      ingest = grpcClient(node.url, 'ingest');
    }
    // Every acknowledged contribution survived; resubmitting it is a replay, not a second copy.
    for (const [i, id] of acknowledged) {
      const c = await call(ingest, 'getContribution', { contributionId: id });
      assert.equal(c.status, 'ACCEPTED', `acknowledged #${i}`);
      await assert.rejects(call(ingest, 'submitContribution', requests[i]), (e: any) => e.code === status.ALREADY_EXISTS);
    }
    // Those in flight at a kill either landed or not; resubmitting completes them once.
    for (let i = 0; i < requests.length; i++) {
      if (acknowledged.has(i)) continue;
      try {
        await call(ingest, 'submitContribution', requests[i]);
      } catch (e: any) {
        assert.equal(e.code, status.ALREADY_EXISTS);
      }
    }
    const dn = await call(ingest, 'getDatanet', { datanetId: 'crash-net' });
    assert.equal(dn.accepted, requests.length);
    ingest.close();
    await node.stop();

    const file = join(dir, 'export.jsonl');
    assert.equal((await runOpal(['log', 'export', '--out', file], { OPAL_DATA_DIR: dir })).code, 0);
    const verified = await runOpal(['log', 'verify', file], { OPAL_DATA_DIR: dir });
    assert.equal(verified.code, 0, verified.stdout);
    const accepted = new Map<string, number>();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('ContributionAccepted')) continue;
      const id = JSON.parse(line).data.contributionId as string;
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
    }
    assert.equal(accepted.size, requests.length);
    assert.ok([...accepted.values()].every((n) => n === 1), 'no contribution is in the log twice');
  });
});
