import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdapterSpec, GenerateChunk, InferenceEngine } from '../inference-engine.port.js';
import { InferenceError } from '../inference.errors.js';
import { AdapterResidency } from './adapter-residency.js';

/** An engine whose adapter loads finish when the test says so. */
class FakeEngine implements InferenceEngine {
  readonly kind = 'llama-cpp' as const;
  readonly loaded = new Set<string>();
  readonly log: string[] = [];
  gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  hold(id: string) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const g = { promise, resolve };
    this.gates.set(id, g);
    return g;
  }
  async loadBaseModel() {}
  async unloadBaseModel() {}
  async loadAdapter(spec: AdapterSpec) {
    this.log.push(`load ${spec.id}`);
    await this.gates.get(spec.id)?.promise;
    this.loaded.add(spec.id);
    return { loadMs: 1 };
  }
  async unloadAdapter(_b: string, id: string) {
    this.log.push(`unload ${id}`);
    this.loaded.delete(id);
  }
  async *generate(): AsyncGenerator<GenerateChunk> {
    yield { type: 'token', text: 'x', tokenCount: 1 };
  }
  async close() {}
}

function setup(cap: number, n: number, opts: { host?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'opal-res-'));
  const engine = new FakeEngine();
  const res = new AdapterResidency({ engine, maxResidentPerBase: cap, maxHostAdapters: opts.host ?? 0, stagingDir: join(dir, 'staged') });
  for (let i = 1; i <= n; i++) {
    const path = join(dir, `a${i}.gguf`);
    writeFileSync(path, `adapter ${i}`);
    res.register({ id: `a${i}`, baseModelId: 'b', path });
  }
  return { dir, engine, res, done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function use(res: AdapterResidency, id: string) {
  const lease = await res.acquire(id);
  lease!.release();
}

describe('adapter residency', () => {
  it('evicts the least recently used adapter and never a pinned one', async () => {
    const { res, engine, done } = setup(3, 5);
    try {
      await use(res, 'a1');
      await use(res, 'a2');
      await use(res, 'a3');
      res.pin('a1');
      await use(res, 'a2'); // a3 is now least recently used among the unpinned
      await use(res, 'a4');
      assert.deepEqual(res.residentAdapters('b').sort(), ['a1', 'a2', 'a4']);
      assert.ok(engine.log.includes('unload a3'));
      await use(res, 'a5'); // LRU order a1(pinned), a2, a4 -> a2 goes
      assert.deepEqual(res.residentAdapters('b').sort(), ['a1', 'a4', 'a5']);
      assert.ok(!engine.log.includes('unload a1'));
      assert.equal(res.tierOf('a3'), 'disk');
      res.pin('a4');
      assert.throws(() => res.pin('a5'), (e: unknown) => e instanceof InferenceError && e.code === 'CAPACITY_EXHAUSTED');
    } finally {
      done();
    }
  });

  it('a cold load never blocks requests for resident adapters; requests for it wait on that load only', async () => {
    const { res, engine, done } = setup(4, 3);
    try {
      await use(res, 'a1');
      const gate = engine.hold('a2');
      const cold1 = res.acquire('a2');
      const cold2 = res.acquire('a2');
      assert.equal(res.tierOf('a2'), 'loading');
      const warm = await res.acquire('a1'); // resolves while a2 is still loading
      assert.ok(warm && warm.loadMs < 50);
      warm.release();
      assert.equal(res.stats().waitingRequests, 2);
      gate.resolve();
      const [l1, l2] = await Promise.all([cold1, cold2]);
      assert.ok(l1 && l2);
      assert.equal(engine.log.filter((l) => l === 'load a2').length, 1);
      l1.release();
      l2.release();
      assert.equal(res.tierOf('a2'), 'resident');
    } finally {
      done();
    }
  });

  it('never evicts an adapter in use: a load waits for a lease to end', async () => {
    const { res, done } = setup(2, 3);
    try {
      const l1 = (await res.acquire('a1'))!;
      const l2 = (await res.acquire('a2'))!;
      let got = false;
      const p = res.acquire('a3').then((l) => {
        got = true;
        return l;
      });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(got, false);
      l1.release();
      const l3 = (await p)!;
      assert.deepEqual(res.residentAdapters('b').sort(), ['a2', 'a3']);
      l2.release();
      l3.release();
    } finally {
      done();
    }
  });

  it('a request that gives up while its adapter loads leaves the load to finish for others', async () => {
    const { res, engine, done } = setup(2, 1);
    try {
      const gate = engine.hold('a1');
      const ctrl = new AbortController();
      const p = res.acquire('a1', ctrl.signal);
      ctrl.abort();
      assert.equal(await p, null);
      gate.resolve();
      await use(res, 'a1');
      assert.equal(res.tierOf('a1'), 'resident');
    } finally {
      done();
    }
  });

  it('the host tier stages bytes by content hash and refuses a file that changed since registration', async () => {
    const { res, dir, done } = setup(1, 2, { host: 1 });
    try {
      await use(res, 'a1');
      assert.equal(readdirSync(join(dir, 'staged')).length, 1);
      await use(res, 'a2'); // evicts a1 from the engine and from the host tier
      assert.equal(res.tierOf('a1'), 'disk');
      assert.equal(readdirSync(join(dir, 'staged')).length, 1);
      res.register({ id: 'bad', baseModelId: 'b', path: join(dir, 'a1.gguf'), contentHash: '0'.repeat(64) });
      await assert.rejects(res.acquire('bad'), (e: unknown) => e instanceof InferenceError && e.code === 'ADAPTER_INVALID');
      assert.equal(res.tierOf('bad'), 'disk');
      await assert.rejects(res.acquire('nope'), (e: unknown) => e instanceof InferenceError && e.code === 'ADAPTER_NOT_FOUND');
    } finally {
      done();
    }
  });
});
