import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpalProcess, grpcClient, runOpal } from '@opal/testkit';
import { paidCompletionIsAttributed } from './paid-completion.js';

// The whole loop across services, as a user drives it against `opal up`: contributions become a
// version, an adapter serves it, a tenant pays for a completion through the OpenAI API, and the
// attribution service credits the contributions the output came from, verifiably.
describe('from contribution to attributed inference', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opal-loop-'));
  const node = new OpalProcess(dir);
  let ingest: any;
  let inference: any;
  let attribution: any;

  before(async () => {
    await node.start();
    ingest = grpcClient(node.url, 'ingest');
    inference = grpcClient(node.url, 'inference');
    attribution = grpcClient(node.url, 'attribution');
  });
  after(async () => {
    for (const c of [ingest, inference, attribution]) c?.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a paid completion gets a receipt crediting its sources, and opal attribution verify confirms it', async () => {
    const inferenceId = await paidCompletionIsAttributed({ ingest, inference, attribution }, node.httpPort, 11);
    const verified = await runOpal(['attribution', 'verify', inferenceId], { OPAL_DATA_DIR: dir });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^match/m);
  });
});
