import type { Message, TopicMessages } from 'kafkajs';
import { EventLogError } from '@opal/event-log';
import type { RenewingProducer } from './renewing-producer.js';

type Pending = {
  readonly topic: string;
  readonly partition: number;
  readonly messages: Message[];
  readonly bytes: number;
  /** Called once the broker has taken the messages, in request order, before `resolve`. */
  readonly written?: (firstOffset: number) => void;
  resolve: (firstOffset: number) => void;
  reject: (e: unknown) => void;
};

const MAX_REQUEST_BYTES = 768 * 1024; // below the broker's default message.max.bytes (1 MiB)

/**
 * Group commit for the idempotent producer: appends that arrive while a request is in flight go out
 * together in the next one (one request in flight, so the broker sees them in order). Bounded: at
 * most `maxInFlight` appends wait or fly at once; the next append waits for a slot (backpressure).
 */
export class AppendBatcher {
  private queue: Pending[] = [];
  private flushing = false;
  private inFlight = 0;
  private slotWaiters: (() => void)[] = [];

  constructor(
    private readonly producer: Pick<RenewingProducer, 'sendBatch'>,
    private readonly maxInFlight: number,
  ) {}

  /**
   * Sends the messages to one partition; resolves with the offset of the first one. `written` runs
   * synchronously when the broker has acknowledged them, in the order the partition holds them.
   */
  async send(topic: string, partition: number, messages: Message[], written?: (firstOffset: number) => void): Promise<number> {
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.inFlight++;
    try {
      const bytes = messages.reduce((n, m) => n + (m.value?.length ?? 0) + 64, 0);
      return await new Promise<number>((resolve, reject) => {
        this.queue.push({ topic, partition, messages, bytes, written, resolve, reject });
        if (!this.flushing) {
          this.flushing = true;
          setImmediate(() => void this.flush());
        }
      });
    } finally {
      this.inFlight--;
      this.slotWaiters.shift()?.();
    }
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      let bytes = 0;
      let take = 0;
      while (take < this.queue.length && (take === 0 || bytes + this.queue[take]!.bytes <= MAX_REQUEST_BYTES)) {
        bytes += this.queue[take]!.bytes;
        take++;
      }
      const batch = this.queue.splice(0, take);
      const byTopic = new Map<string, Message[]>();
      for (const b of batch) {
        let list = byTopic.get(b.topic);
        if (!list) byTopic.set(b.topic, (list = []));
        for (const m of b.messages) list.push(m.partition === b.partition ? m : { ...m, partition: b.partition });
      }
      const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      try {
        const meta = await this.producer.sendBatch({ acks: -1, topicMessages });
        // Messages of one partition get consecutive offsets from its base offset, in request order.
        const next = new Map(meta.map((m) => [`${m.topicName}/${m.partition}`, Number(m.baseOffset)]));
        for (const b of batch) {
          const key = `${b.topic}/${b.partition}`;
          const first = next.get(key);
          if (first === undefined || first < 0) {
            b.reject(new EventLogError('UNAVAILABLE', `no offset returned for ${key}`));
            continue;
          }
          next.set(key, first + b.messages.length);
          b.written?.(first);
          b.resolve(first);
        }
      } catch (error) {
        for (const b of batch) b.reject(new EventLogError('UNAVAILABLE', `kafka append failed: ${String(error)}`));
      }
    }
    this.flushing = false;
  }
}
