import type { Admin } from 'kafkajs';
import { createKafka } from './kafka-client.js';
import type { KafkaEventLogOptions } from './kafka-event-log.options.js';

/**
 * Asks the brokers whether they answer now: one metadata request from a client of its own that never
 * retries. The log's own client retries its connections and requests as its settings say (longer
 * than a caller waiting on read models would wait), whatever one of its admins is told. Callers
 * at the same moment share one question (every query that waits on read models asks).
 */
export class BrokerProbe {
  private admin: Promise<Admin> | undefined;
  private asking: Promise<boolean> | undefined;
  private closed = false;

  constructor(private readonly options: KafkaEventLogOptions) {}

  reachable(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return (this.asking ??= this.ask().finally(() => (this.asking = undefined)));
  }

  private async ask(): Promise<boolean> {
    const admin = (this.admin ??= (async () => {
      const a = createKafka({ ...this.options, clientId: `${this.options.clientId ?? 'opal'}-probe` }, 0).admin();
      await a.connect();
      return a;
    })());
    try {
      await (await admin).describeCluster();
      return true;
    } catch {
      // Connected afresh next time: a client that failed once may hold a broken connection.
      if (this.admin === admin) this.admin = undefined;
      void admin.then((a) => a.disconnect()).catch(() => {});
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.admin?.then((a) => a.disconnect()).catch(() => {});
  }
}
