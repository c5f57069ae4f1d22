import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { credentials, loadPackageDefinition, Metadata, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { HealthImplementation } from 'grpc-health-check';
import { ReadConsistencyGate, type ReadModelsCatchUp } from './read-consistency.js';

const healthProto = fileURLToPath(new URL('../proto/grpc/health/v1/health.proto', import.meta.url));

describe('ReadConsistencyGate', () => {
  const asked: string[] = [];
  let answer: () => Promise<boolean> = async () => true;
  const readModels: ReadModelsCatchUp = {
    caughtUpWithin: (service) => {
      asked.push(service);
      return answer();
    },
  };
  const gate = new ReadConsistencyGate(250);
  const server = new Server({ interceptors: [gate.interceptor()] });
  let client: any;
  before(async () => {
    new HealthImplementation({ '': 'SERVING' }).addToServer(server);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const Health = (loadPackageDefinition(loadSync(healthProto, { keepCase: true, enums: String })) as any).grpc.health.v1.Health;
    client = new Health(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(() => {
    client?.close();
    server.forceShutdown();
  });

  const check = (value?: string) => {
    const m = new Metadata();
    if (value !== undefined) m.set('opal-consistency', value);
    return new Promise<string>((resolve, reject) => client.Check({ service: '' }, m, (e: ServiceError | null, r: { status: string }) => (e ? reject(e) : resolve(r.status))));
  };

  it('passes every call before it is bound to read models', async () => {
    assert.equal(await check('latest'), 'SERVING');
    assert.deepEqual(asked, []);
  });

  it('passes a call without the metadata at once, and one with it once the read models caught up', async () => {
    gate.bind(readModels);
    assert.equal(await check(), 'SERVING');
    assert.deepEqual(asked, [], 'not asked without the metadata');
    let release!: () => void;
    answer = () => new Promise((resolve) => (release = () => resolve(true)));
    let done = false;
    const answered = check('latest').then((s) => ((done = true), s));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done, false, 'held until the read models caught up');
    release();
    assert.equal(await answered, 'SERVING');
    // Not an opal service: every service's read models.
    assert.deepEqual(asked, ['']);
  });

  it('answers UNAVAILABLE when they do not catch up in time, and INVALID_ARGUMENT to another value, naming the metadata', async () => {
    answer = async () => false;
    await assert.rejects(check('latest'), (e: ServiceError) => e.code === status.UNAVAILABLE && /^opal-consistency: the read models were not seen caught up with the log \(its servers do not answer, or not within 250 ms\)/.test(e.details));
    await assert.rejects(check('strong'), (e: ServiceError) => e.code === status.INVALID_ARGUMENT && e.details === `opal-consistency: must be 'latest' (got "strong")`);
  });
});
