import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { TransientError } from '@opal/event-log';
import { OpenAiHttpServer, type OpenAiHttpDeps } from './openai-http.server.js';

describe('OpenAiHttpServer errors', () => {
  it('logs an internal error whole, as its answer says, and a store away (503) only as a refusal', async () => {
    const lines: { level: number; msg: string; path?: string; err?: { message: string } }[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
    let failure: Error = new TypeError('cannot read x of undefined');
    const deps = {
      ledger: { authenticate: async () => Promise.reject(failure) },
      logger: pino({ level: 'info' }, sink),
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
    } as unknown as OpenAiHttpDeps;
    const server = new OpenAiHttpServer(deps);
    const port = await server.listen('127.0.0.1', 0);
    try {
      const ask = () => fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: 'Bearer k' } });
      const internal = await ask();
      assert.equal(internal.status, 500);
      assert.match(JSON.stringify(await internal.json()), /see the service log/);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.level, 50);
      assert.equal(lines[0]!.path, '/v1/models');
      assert.equal(lines[0]!.err?.message, 'cannot read x of undefined');
      failure = new TransientError('mongodb unavailable: connect ECONNREFUSED');
      const away = await ask();
      assert.equal(away.status, 503);
      assert.equal(((await away.json()) as { error: { code: string } }).error.code, 'service_unavailable');
      assert.equal(lines.length, 1, 'nothing more at info level');
    } finally {
      await server.close();
    }
  });

  it('takes Opal-Consistency: latest, waiting for the read models, answers 503 if they do not catch up, and refuses other values naming the header', async () => {
    let caughtUp = true;
    const waited: number[] = [];
    const deps = {
      ledger: { authenticate: async () => ({ tenantId: 't' }) },
      catalog: { list: async () => [] },
      logger: pino({ level: 'silent' }),
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      readModelsCaughtUp: async () => (waited.push(1), caughtUp),
    } as unknown as OpenAiHttpDeps;
    const server = new OpenAiHttpServer(deps);
    const port = await server.listen('127.0.0.1', 0);
    try {
      const ask = (consistency?: string) => fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: 'Bearer k', ...(consistency !== undefined && { 'Opal-Consistency': consistency }) } });
      assert.equal((await ask()).status, 200);
      assert.equal(waited.length, 0, 'no wait without the header');
      assert.equal((await ask('latest')).status, 200);
      assert.equal(waited.length, 1);
      const bad = await ask('soon');
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: { message: string } }).error.message, /^opal-consistency: must be 'latest' \(got "soon"\)/);
      caughtUp = false;
      const stale = await ask('latest');
      assert.equal(stale.status, 503);
      assert.match(((await stale.json()) as { error: { message: string } }).error.message, /opal-consistency: the inference read models were not seen caught up/);
    } finally {
      await server.close();
    }
  });
});
