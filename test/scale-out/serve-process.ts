import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { OpalProcess } from '@opal/testkit';

/** `opal serve <service>` scaled out (Kafka + MongoDB): no data folder of its own is used. */
export class ServeProcess extends OpalProcess {
  constructor(service: string, env: Record<string, string>) {
    // OPAL_FAULT_LOG: a file that collects the services' logs (what a stalled run was doing).
    const logFile = process.env.OPAL_FAULT_LOG;
    super(join(tmpdir(), `opal-serve-${process.pid}`), { command: ['serve', service], env: { ...env, OPAL_INGEST_WORKERS: '0' }, ...(logFile ? { logFile } : {}) });
    this.service = service;
  }

  private readonly service: string;

  /**
   * A crash: SIGKILL of a process that must still be running. One that already exited by itself
   * (a projection that stopped for good) is a failure of the test, not a crash to go on from.
   */
  async crash(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) {
      throw new Error(`opal serve ${this.service}: not running when it was to be killed (exit code ${c?.exitCode}, signal ${c?.signalCode})\n${this.output()}`);
    }
    await this.kill('SIGKILL');
    if (c.signalCode !== 'SIGKILL') throw new Error(`opal serve ${this.service}: ended with code ${c.exitCode}, signal ${c.signalCode}, not by the SIGKILL`);
  }
}

/** Resolves once every named consumer group has committed up to the end of every topic with the prefix. */
export async function waitDrained(brokers: string, prefix: string, groups: readonly string[], timeoutMs = 240_000): Promise<void> {
  const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix) && !t.endsWith('dead-letter'));
    for (;;) {
      let behind = 0;
      for (const topic of topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const groupId of groups) {
          const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
          for (const e of ends) {
            const c = Number(committed!.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
            behind += Math.max(0, Number(e.high) - Math.max(c, 0));
          }
        }
      }
      if (behind === 0) return;
      if (Date.now() > deadline) throw new Error(`consumers still ${behind} records behind after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    await admin.disconnect();
  }
}
