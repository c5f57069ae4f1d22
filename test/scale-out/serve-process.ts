import { spawn, type ChildProcess } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { freePort, opalBin } from '@opal/testkit';

/** `opal serve <service>` scaled out (Kafka + MongoDB) as a real child process on loopback ports. */
export class ServeProcess {
  child: ChildProcess | undefined;
  constructor(
    private readonly service: string,
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const env = { ...process.env, ...this.env, OPAL_GRPC_PORT: String(await freePort()), OPAL_HTTP_PORT: String(await freePort()), OPAL_LOG_LEVEL: 'warn', OPAL_INGEST_WORKERS: '0' };
    const child = spawn(process.execPath, [opalBin, 'serve', this.service], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`opal serve ${this.service} did not start in 60 s:\n${err}`)), 60_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`opal serve ${this.service} exited with ${code}:\n${err}`));
      });
    });
    child.removeAllListeners('exit');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
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
