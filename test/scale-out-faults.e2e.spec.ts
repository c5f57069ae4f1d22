import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { freePort, infraScript } from '@opal/test-infra';
import { KafkaEventLog } from '@opal/event-log-kafka';
import { appendAll, cleanDigests, comparable, ingestAppends, mongoDigests, type Append } from './scale-out/ingest-fixture.js';
import { ServeProcess, waitDrained } from './scale-out/serve-process.js';
import { faultHarness, BIG, SMALL, brokers, deleteTopics, dropDb, groupsOf, infra, scenario, skip, untilContributions } from './scale-out/fault-kit.js';

describe('scale-out faults: opal serve ingest on Kafka + MongoDB', { skip, timeout: 600_000 }, () => {
  const { cleanups, expected, serve } = faultHarness();
  after(() => cleanups.run());

  it(`SIGKILL of the consuming service three times during ${BIG} events, restarted each time`, async () => {
    const s = scenario('kill');
    cleanups.push(() => dropDb(s.url), () => deleteTopics(brokers, s.prefix));
    const appends = ingestAppends(BIG);
    const reference = expected(appends, BIG);
    const log = await KafkaEventLog.connect({ brokers: [brokers], logLevel: 'nothing', topics: { prefix: s.prefix }, groupPrefix: s.prefix });
    let consumer = serve(s.env);
    await consumer.start();
    const appending = appendAll(log, appends, { pauseEvery: 2000, pauseMs: 100 });
    const contributionsTotal = Math.ceil((BIG - 40) / 2);
    for (const share of [0.2, 0.45, 0.7]) {
      await untilContributions(s.url, Math.floor(contributionsTotal * share));
      await consumer.kill('SIGKILL');
      consumer = serve(s.env);
      await consumer.start();
    }
    await appending;
    await log.close();
    await waitDrained(brokers, s.prefix, groupsOf(s.prefix));
    assert.deepEqual(comparable(await mongoDigests(s.url)), await reference);
    await consumer.kill('SIGTERM');
  });

});
