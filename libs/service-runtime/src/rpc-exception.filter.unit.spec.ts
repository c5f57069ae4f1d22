import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import type { ArgumentsHost } from '@nestjs/common';
import { lastValueFrom } from 'rxjs';
import pino from 'pino';
import { EventLogError, TransientError } from '@opal/event-log';
import { createRpcExceptionFilter } from './rpc-exception.filter.js';
import { rpcError } from './rpc-error.js';

class OwnError extends Error {}

describe('createRpcExceptionFilter', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  const Filter = createRpcExceptionFilter('ingest', { matches: (e) => e instanceof OwnError, toRpc: (e: OwnError) => rpcError('NOT_FOUND', e.message) });
  const filter = new Filter(pino({ level: 'info' }, sink));
  // As Nest hands a gRPC call to a filter: its request, metadata and call object, no handler.
  const call = { getPath: () => '/opal.ingest.v1.IngestService/CreateDatanet' };
  const host = { getArgs: () => [{}, {}, call], getHandler: () => null } as unknown as ArgumentsHost;
  const statusOf = (e: unknown) => lastValueFrom(filter.catch(e, host)).then(() => assert.fail('no error'), (r: { code: number; message: string }) => r);

  it("maps the service's errors, the log's and the store's outages, and logs nothing for them", async () => {
    assert.deepEqual(await statusOf(new OwnError('datanet_id: no Datanet x')), { code: status.NOT_FOUND, message: 'datanet_id: no Datanet x' });
    assert.deepEqual(await statusOf(new EventLogError('UNAVAILABLE', 'kafka append failed')), { code: status.UNAVAILABLE, message: 'kafka append failed' });
    assert.deepEqual(await statusOf(new EventLogError('VERSION_CONFLICT', 'stream s: expected 1')), { code: status.ABORTED, message: 'stream s: expected 1' });
    assert.deepEqual(await statusOf(new TransientError('mongodb: server away')), { code: status.UNAVAILABLE, message: 'mongodb: server away' });
    assert.equal(lines.length, 0);
  });

  it('answers anything else INTERNAL without its details, and logs it whole with the service and method', async () => {
    const failure = new Error('secret detail at /srv/opal');
    const r = await statusOf(failure);
    assert.deepEqual(r, { code: status.INTERNAL, message: 'internal error; see the service log' });
    assert.equal(lines.length, 1);
    const line = lines[0] as { level: number; service: string; method: string; err: { message: string; stack: string } };
    assert.equal(line.level, 50);
    assert.equal(line.service, 'ingest');
    assert.equal(line.method, '/opal.ingest.v1.IngestService/CreateDatanet');
    assert.equal(line.err.message, 'secret detail at /srv/opal');
    assert.match(line.err.stack, /secret detail/);
    assert.deepEqual(await statusOf(new EventLogError('CORRUPT', 'bad record')), { code: status.INTERNAL, message: 'internal error; see the service log' });
    assert.equal(lines.length, 2, 'a corrupt log is internal, and logged');
  });
});
