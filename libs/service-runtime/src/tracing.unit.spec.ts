import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { tracer, traceContextEnabled } from '@opal/event-log';
import { createLogger } from './logger.js';
import { startTracing } from './tracing.js';

describe('tracing in a process', () => {
  it('stays off without an endpoint, and once on, log lines written inside a span carry its ids', async () => {
    startTracing(undefined, 'opal-test');
    assert.equal(traceContextEnabled(), false, 'no endpoint, no tracing');
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
    const logger = createLogger('info', 'test', sink);
    logger.info('before');
    // Nothing listens there: the spans are lost, which is what a collector away means.
    startTracing('http://127.0.0.1:9', 'opal-test');
    assert.equal(traceContextEnabled(), true);
    const ids = tracer().startActiveSpan('work', (span) => {
      logger.info('inside');
      span.end();
      return span.spanContext();
    });
    logger.info('after');
    await new Promise((r) => setImmediate(r));
    const byMsg = Object.fromEntries(lines.map((l) => [l['msg'], l]));
    assert.equal(byMsg['before']!['trace_id'], undefined);
    assert.deepEqual([byMsg['inside']!['trace_id'], byMsg['inside']!['span_id']], [ids.traceId, ids.spanId]);
    assert.equal(byMsg['after']!['trace_id'], undefined);
  });
});
