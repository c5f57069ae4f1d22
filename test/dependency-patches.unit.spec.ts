import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Patch = { package: string; version: string; file: string; from: string; to: string };
type Outcome = { package: string; file: string; outcome: 'applied' | 'present' | 'missing' | 'absent' };
type Patcher = {
  PATCHES: Patch[];
  applyPatches(modules: string, patches?: Patch[], options?: { write?: boolean }): Outcome[];
};

// dist/test/<this file> → the repository root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const patcher = (await import(pathToFileURL(join(root, 'scripts', 'patch-dependencies.mjs')).href)) as Patcher;

/** Runs `body` on a node_modules folder holding one package with one file, removed after. */
function withModules(version: string, text: string, body: (modules: string, file: string) => void): void {
  const modules = mkdtempSync(join(tmpdir(), 'opal-patch-'));
  try {
    mkdirSync(join(modules, 'pkg', 'src'), { recursive: true });
    writeFileSync(join(modules, 'pkg', 'package.json'), JSON.stringify({ name: 'pkg', version }));
    writeFileSync(join(modules, 'pkg', 'src', 'a.js'), text);
    body(modules, join(modules, 'pkg', 'src', 'a.js'));
  } finally {
    rmSync(modules, { recursive: true, force: true });
  }
}

const PATCH: Patch = { package: 'pkg', version: '1.0.0', file: 'src/a.js', from: 'slow()', to: 'fast()' };
const outcomes = (modules: string, patches: Patch[], options?: { write?: boolean }) => patcher.applyPatches(modules, patches, options).map((r) => r.outcome);

describe('dependency patches (scripts/patch-dependencies.mjs)', () => {
  it('given the expected text, when applied twice, then it is replaced once and the second pass finds it present', () =>
    withModules('1.0.0', 'before;\nslow();\nafter;\n', (modules, file) => {
      assert.deepEqual(outcomes(modules, [PATCH], { write: false }), ['missing']);
      assert.equal(readFileSync(file, 'utf8'), 'before;\nslow();\nafter;\n');
      assert.deepEqual(outcomes(modules, [PATCH]), ['applied']);
      assert.equal(readFileSync(file, 'utf8'), 'before;\nfast();\nafter;\n');
      assert.deepEqual(outcomes(modules, [PATCH]), ['present']);
      assert.equal(readFileSync(file, 'utf8'), 'before;\nfast();\nafter;\n');
    }));

  it('given another version of the package, then it refuses, naming both versions, and leaves the file alone', () =>
    withModules('1.0.1', 'slow();\n', (modules, file) => {
      assert.throws(() => patcher.applyPatches(modules, [PATCH]), /pkg is 1\.0\.1, the patch of src\/a\.js is for 1\.0\.0/);
      assert.equal(readFileSync(file, 'utf8'), 'slow();\n');
    }));

  it('given a file without the text the patch replaces, then it refuses; a package not installed is reported absent', () =>
    withModules('1.0.0', 'other();\n', (modules) => {
      assert.throws(() => patcher.applyPatches(modules, [PATCH]), /pkg\/src\/a\.js does not hold the code the patch replaces/);
      assert.deepEqual(outcomes(modules, [{ ...PATCH, package: 'not-installed' }]), ['absent']);
    }));

  it('the installed dependencies carry every patch (npm ci and the build apply them)', () => {
    const installed = patcher.applyPatches(join(root, 'node_modules'), patcher.PATCHES, { write: false });
    assert.deepEqual(
      installed.map((r) => `${r.package}/${r.file}: ${r.outcome}`),
      patcher.PATCHES.map((p) => `${p.package}/${p.file}: present`),
    );
  });
});

describe("kafkajs's grouping of a produce request by partition, as patched", () => {
  const require = createRequire(join(root, 'package.json'));
  const group = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
    topic: string;
    partitionMetadata: unknown[];
    messages: { key: string; partition: number }[];
    partitioner: (args: { message: { partition: number } }) => number;
  }) => Record<string, { key: string }[]>;

  it('given 30,000 messages over 3 partitions, then each partition gets its messages, in request order, each once', () => {
    const messages = Array.from({ length: 30_000 }, (_, i) => ({ key: `m${i}`, partition: (i * 7) % 3 }));
    let calls = 0;
    const grouped = group({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => (calls++, message.partition),
    });
    assert.equal(calls, messages.length);
    assert.deepEqual(Object.keys(grouped).sort(), ['0', '1', '2']);
    for (const p of [0, 1, 2]) {
      assert.deepEqual(
        grouped[p]!.map((m) => m.key),
        messages.filter((m) => m.partition === p).map((m) => m.key),
      );
    }
  });

  it('given no partition metadata, then nothing is grouped (as before)', () => {
    assert.deepEqual(group({ topic: 't', partitionMetadata: [], messages: [{ key: 'a', partition: 0 }], partitioner: () => 0 }), {});
  });
});

describe("kafkajs's request queue, as patched", () => {
  const require = createRequire(join(root, 'package.json'));
  type Queue = {
    throttleCheckTimeoutId: unknown;
    push(r: { entry: { correlationId: number }; expectResponse: boolean; sendRequest: () => void }): void;
    fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void;
    maybeThrottle(ms: number): void;
    destroy(): void;
  };
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: object) => Queue;
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const queue = (maxInFlightRequests: number) =>
    new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: 'b', logger: silent });
  const request = (correlationId: number, sent: number[]) => ({ entry: { correlationId, apiKey: 0, apiName: 'Test', apiVersion: 0, resolve() {}, reject() {} }, expectResponse: true, sendRequest: () => sent.push(correlationId) });
  const answer = (q: Queue, correlationId: number) => q.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });
  /** Whether the queue's check timer stops once what it waited for is done (the unpatched one re-arms itself for good). */
  const disarms = async (q: Queue) => {
    for (let waited = 0; q.throttleCheckTimeoutId !== null && waited < 200; waited += 5) await new Promise((r) => setTimeout(r, 5));
    return q.throttleCheckTimeoutId === null;
  };

  /** A queue of `maxInFlight`, the ids it has sent so far, and the queue destroyed after `body`. */
  const withQueue = async (maxInFlight: number, body: (q: Queue, sent: number[]) => Promise<void>) => {
    const q = queue(maxInFlight);
    try {
      await body(q, []);
    } finally {
      q.destroy();
    }
  };

  it('given an answered request and nothing pending, then no timer is left armed (it re-armed every 1 ms for good)', () =>
    withQueue(1, async (q, sent) => {
      q.push(request(1, sent));
      answer(q, 1);
      assert.deepEqual(sent, [1]);
      assert.equal(q.throttleCheckTimeoutId, null);
      assert.ok(await disarms(q));
    }));

  it('given more requests than may fly at once, then each answer sends the next, in order, and the timer stops after', () =>
    withQueue(1, async (q, sent) => {
      for (const id of [1, 2, 3]) q.push(request(id, sent));
      assert.deepEqual(sent, [1]);
      answer(q, 1);
      assert.deepEqual(sent, [1, 2]);
      answer(q, 2);
      answer(q, 3);
      assert.deepEqual(sent, [1, 2, 3]);
      assert.ok(await disarms(q));
    }));

  it('given the broker throttles the client, then a request queued meanwhile goes out once the throttle ends', () =>
    withQueue(5, async (q, sent) => {
      q.maybeThrottle(30);
      q.push(request(1, sent));
      assert.deepEqual(sent, []);
      for (let waited = 0; sent.length === 0 && waited < 2_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(sent, [1]);
      answer(q, 1);
      assert.ok(await disarms(q));
    }));
});

/**
 * Runs `body` with an installed kafkajs file (as patched) and a copy of it with the project's edits
 * undone, beside it so its relative requires resolve the same; the copy is removed after.
 */
function withUnpatchedCopy<T>(file: string, body: (installed: string, unpatched: string) => T): T {
  const require = createRequire(join(root, 'package.json'));
  const installed = require.resolve(`kafkajs/${file}`);
  let text = readFileSync(installed, 'utf8');
  for (const p of patcher.PATCHES.filter((x) => x.package === 'kafkajs' && x.file === file)) text = text.replace(p.to, p.from);
  assert.doesNotMatch(text, /opal/, 'the unpatched text');
  const unpatched = join(dirname(installed), `unpatched-${process.pid}-${file.split('/').join('-')}`);
  writeFileSync(unpatched, text);
  const cleanup = () => rmSync(unpatched, { force: true });
  try {
    const out = body(installed, unpatched);
    if (out instanceof Promise) return out.finally(cleanup) as T;
    cleanup();
    return out;
  } catch (error) {
    cleanup();
    throw error;
  }
}

describe("kafkajs's produce request, as patched", () => {
  const require = createRequire(join(root, 'package.json'));
  type Request = { encode(): Promise<{ buffer: Buffer }> };
  type Produce = (args: { acks: number; timeout: number; topicData: unknown[] }) => Request;

  it('given messages with keys, values, headers and timestamps, then it encodes the very bytes the unpatched code does', () =>
    withUnpatchedCopy('src/protocol/requests/produce/v3/request.js', async (installed, original) => {
      const topicData = [
        {
          topic: 'opal.ingest',
          partitions: [0, 1].map((partition) => ({
            partition,
            firstSequence: 7,
            messages: Array.from({ length: 50 }, (_, i) => ({
              key: `datanet-${i}`,
              value: Buffer.from(`event ${partition}/${i}`),
              headers: i % 3 === 0 ? { traceparent: `00-${i}` } : undefined,
              timestamp: 1_700_000_000_000 + i,
              partition,
            })),
          })),
        },
      ];
      const encode = async (produce: Produce) => (await produce({ acks: -1, timeout: 30_000, topicData }).encode()).buffer;
      const [patched, unpatched] = [await encode(require(installed) as Produce), await encode(require(original) as Produce)];
      assert.ok(patched.length > 0);
      assert.ok(patched.equals(unpatched), 'same request bytes');
    }));
});

describe("kafkajs's record decoder, as patched", () => {
  const require = createRequire(join(root, 'package.json'));
  type Decoder = { readVarIntBytes(): Buffer };
  type RecordDecoder = (decoder: Decoder, context: object) => Record<string, unknown>;
  const DecoderClass = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => Decoder;
  const Long = require('kafkajs/src/utils/long.js') as { fromNumber(n: number): unknown; fromString(s: string): unknown };
  const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: object) => { buffer: Buffer };

  it('given records of small, negative, large and huge deltas and first values, then it decodes what the unpatched code does', () =>
    withUnpatchedCopy('src/protocol/recordBatch/record/v0/decoder.js', (installed, original) => {
      const [patched, unpatched] = [require(installed) as RecordDecoder, require(original) as RecordDecoder];
      const deltas = [0, 1, -1, 63, -64, 8191, (1 << 27) - 1, -(1 << 27), 1 << 27, 2 ** 40, -(2 ** 40)];
      const firsts = [['0', '1700000000000'], ['123456789', '-1'], ['9007199254740990', '1700000000000'], ['9223372036854775000', '9223372036854775000']];
      let compared = 0;
      for (const delta of deltas) {
        for (const [firstOffset, firstTimestamp] of firsts) {
          const body = () => new DecoderClass(encodeRecord({ offsetDelta: Math.abs(delta) % 1000, timestampDelta: Long.fromNumber(delta), key: Buffer.from('k'), value: Buffer.from('v') }).buffer).readVarIntBytes();
          const context = { firstOffset, firstTimestamp, magicByte: 2, timestampType: 0, maxTimestamp: firstTimestamp };
          const [a, b] = [patched(new DecoderClass(body()), context), unpatched(new DecoderClass(body()), context)];
          assert.deepEqual([a['timestamp'], a['offset'], a['key'], a['value']], [b['timestamp'], b['offset'], b['key'], b['value']], `delta ${delta}, first ${firstOffset}/${firstTimestamp}`);
          compared++;
        }
      }
      assert.equal(compared, deltas.length * firsts.length);
    }));
});

describe("kafkajs's encoder, as patched", () => {
  const require = createRequire(join(root, 'package.json'));
  type Encoder = {
    buffer: Buffer;
    writeInt8(v: number): Encoder;
    writeInt16(v: number): Encoder;
    writeInt32(v: number): Encoder;
    writeInt64(v: number): Encoder;
    writeBoolean(v: boolean): Encoder;
    writeString(v: string | null): Encoder;
    writeVarIntString(v: string | null): Encoder;
    writeBytes(v: Buffer | string | null): Encoder;
    writeVarIntBytes(v: Buffer | string | null): Encoder;
    writeVarInt(v: number): Encoder;
    writeVarLong(v: number): Encoder;
    writeEncoder(v: Encoder): Encoder;
  };
  type EncoderClass = new (initialSize?: number) => Encoder;

  it('given every kind of write, growing past its first buffer, on dirty memory, then it hands out the bytes the unpatched encoder does', () =>
    withUnpatchedCopy('src/protocol/encoder.js', (installed, original) => {
      const encode = (Kind: EncoderClass) => {
        const e = new Kind(8);
        for (let i = 0; i < 40; i++) {
          e.writeInt8(i).writeInt16(-i).writeInt32(i * 7919).writeInt64(i * 1e9).writeBoolean(i % 2 === 0);
          e.writeString(i % 5 ? `key-${i}` : null).writeVarIntString(`é${i}`).writeBytes(Buffer.alloc(i, i)).writeBytes(`text ${i}`);
          e.writeVarIntBytes(i % 4 ? Buffer.from(`value ${i}`) : null).writeVarInt(-i * 1000).writeVarLong(i * 2 ** 40);
          const inner = new Kind(2);
          inner.writeString('nested').writeInt32(i);
          e.writeEncoder(inner);
        }
        return e.buffer;
      };
      // Memory taken without zero-filling holds whatever was there: here, always 0xa5.
      const allocUnsafe = Buffer.allocUnsafe;
      Buffer.allocUnsafe = (size: number) => allocUnsafe(size).fill(0xa5);
      let patched: Buffer;
      try {
        patched = encode(require(installed) as EncoderClass);
      } finally {
        Buffer.allocUnsafe = allocUnsafe;
      }
      const unpatched = encode(require(original) as EncoderClass);
      assert.ok(patched.length > 2000, `grew several times (${patched.length} bytes)`);
      assert.ok(patched.equals(unpatched), 'same bytes');
    }));
});
