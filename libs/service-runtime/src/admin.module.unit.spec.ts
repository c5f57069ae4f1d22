import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import { isTransient, type EventLog } from '@opal/event-log';
import { AdminController } from './admin.module.js';
import type { ProjectionHost } from './projection-host.js';

/** A process running the ingest read models, caught up or not. */
function admin(caughtUp: boolean) {
  const asked: (string | undefined)[] = [];
  const host = {
    hosts: (s: string) => s === 'ingest',
    caughtUpWithin: async (s: string | undefined) => (asked.push(s), caughtUp),
    digests: async () => ({ digest: 'd', projections: [{ projection: 'ingest.catalog', digest: 'c', documents: 1, appliedEvents: 2, version: 1 }] }),
  } as unknown as ProjectionHost;
  const log = { stats: async () => ({ events: 2, streams: 1, bytes: 10 }) } as unknown as EventLog;
  return { controller: new AdminController(host, log), asked };
}

const refused = (code: keyof typeof status, field: RegExp) => (e: unknown) => {
  assert.ok(e instanceof RpcException, String(e));
  const { code: got, message } = e.getError() as { code: number; message: string };
  assert.equal(got, status[code]);
  assert.match(message, field);
  return true;
};

describe('AdminController.GetStateDigest', () => {
  it('answers the digest of the read models asked for, once they have applied the log', async () => {
    const { controller, asked } = admin(true);
    const r = await controller.getStateDigest({ service: 'ingest' });
    assert.equal(r.digest, 'd');
    assert.equal(r.logEvents, '2');
    assert.deepEqual(asked, ['ingest']);
    assert.equal((await controller.getStateDigest({ service: '' })).digest, 'd', 'empty: every read model of the process');
  });

  it('refuses a service that does not exist (INVALID_ARGUMENT), or whose read models this process does not run (FAILED_PRECONDITION), naming the field', async () => {
    const { controller } = admin(true);
    await assert.rejects(controller.getStateDigest({ service: 'ingst' }), refused('INVALID_ARGUMENT', /^service: unknown service "ingst" \(one of ingest, inference/));
    await assert.rejects(controller.getStateDigest({ service: 'inference' }), refused('FAILED_PRECONDITION', /^service: this process runs no inference read models/));
  });

  it('answers UNAVAILABLE, not a digest of read models behind the log, when they are not seen caught up in time', async () => {
    const { controller } = admin(false);
    await assert.rejects(controller.getStateDigest({ service: 'ingest' }), (e: Error) => isTransient(e) && /read models of ingest not seen caught up/.test(e.message));
  });
});
