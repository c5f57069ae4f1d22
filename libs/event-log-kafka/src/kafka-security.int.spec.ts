import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { deleteTopics } from '@opal/test-infra';
import { EventLogError } from '@opal/event-log';
import { KafkaEventLog } from './kafka-event-log.adapter.js';
import { createKafka } from './kafka-client.js';
import type { KafkaEventLogOptions } from './kafka-event-log.options.js';
import { brokers, ev, infra, optionsFor, run } from './kafka-test-kit.js';

// The adapter against a listener that asks for TLS and a SASL login, as production clusters do:
// the local broker's second listener (scripts/infra), absent where the servers are given or from containers.
const secure = infra.skipped ? undefined : infra.endpoints.kafkaSecure;
const skip = infra.skipped ? infra.reason : secure ? false : `no TLS listener among the ${infra.mode} servers`;

describe('kafka event log over TLS with SASL', { skip }, () => {
  const ca = secure ? readFileSync(secure.caFile, 'utf8') : '';
  type Mechanism = NonNullable<KafkaEventLogOptions['sasl']>['mechanism'];
  const over = (tls: KafkaEventLogOptions['tls'], password = secure?.password ?? '', mechanism: Mechanism = 'plain'): KafkaEventLogOptions =>
    optionsFor('secure', { brokers: [secure!.brokers], tls, sasl: { mechanism, username: secure!.username, password }, connectionTimeoutMs: 5000 });
  after(async () => deleteTopics(brokers, optionsFor('secure').topics!.prefix!));

  it('appends, reads and delivers through a listener that asks for TLS and a SASL user', async () => {
    const log = await KafkaEventLog.connect(over({ ca }));
    try {
      const s = `secure-${run}`;
      await log.append(s, [ev('A', '1'), ev('A', '2')], { expectedVersion: 'no_stream', producer: 't' });
      assert.deepEqual((await log.readStream(s)).map((e) => e.streamSeq), [1, 2]);
      const seen: string[] = [];
      const sub = log.subscribe({ name: `secure-${run}`, from: 'beginning', handler: (b) => void seen.push(...b.map((e) => `${e.streamId}#${e.streamSeq}`)) });
      await sub.caughtUp();
      await sub.stop();
      assert.deepEqual(seen, [`${s}#1`, `${s}#2`]);
    } finally {
      await log.close();
    }
  });

  for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
    it(`logs in with ${mechanism} as well`, async () => {
      const log = await KafkaEventLog.connect(over({ ca }, secure!.password, mechanism));
      try {
        const s = `${mechanism}-${run}`;
        await log.append(s, [ev('A', '1')], { expectedVersion: 'no_stream', producer: 't' });
        assert.deepEqual((await log.readStream(s)).map((e) => e.streamSeq), [1]);
      } finally {
        await log.close();
      }
    });
  }

  it('names the setting at fault: a refused password (sasl), an untrusted certificate (tls)', async () => {
    await assert.rejects(KafkaEventLog.connect(over({ ca }, 'not-the-password')), (e: unknown) => e instanceof EventLogError && e.code === 'INVALID_ARGUMENT' && /^sasl: .* refused user 'opal' \(plain\)/.test(e.message));
    for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
      await assert.rejects(
        KafkaEventLog.connect(over({ ca }, 'not-the-password', mechanism)),
        (e: unknown) => e instanceof EventLogError && e.code === 'INVALID_ARGUMENT' && e.message.startsWith('sasl: ') && e.message.includes(`refused user 'opal' (${mechanism})`),
      );
    }
    // The broker's certificate is self-signed: the system's CAs do not vouch for it.
    await assert.rejects(KafkaEventLog.connect(over(true)), (e: unknown) => e instanceof EventLogError && e.code === 'UNAVAILABLE' && /^tls: .*certificate/.test(e.message));
  });

  it('reads its TLS settings as each connection opens: a CA renewed under a running client is used from its next connection', async () => {
    // As the process's view of OPAL_KAFKA_TLS_CA_FILE read again (liveKafkaTls): what it holds now.
    let trusted = ca;
    const kafka = createKafka(over({ get ca() { return trusted; } }), 0);
    const connects = async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.describeCluster();
        return true;
      } catch {
        return false;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    };
    assert.equal(await connects(), true);
    // A CA that does not vouch for the brokers (a system root): the next connection checks against it and fails.
    trusted = rootCertificates[0]!;
    assert.equal(await connects(), false);
    // Both CAs, as a cluster CA being renewed is published: connections open again.
    trusted = `${rootCertificates[0]}\n${ca}`;
    assert.equal(await connects(), true);
  });
});
