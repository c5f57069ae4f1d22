import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { decodeEnvelopeFast, encodeEnvelope, type StoredEvent } from '@opal/event-log';
import { highWatermarks } from './kafka-client.js';

export type DeadLetterReason = {
  readonly reason: string;
  readonly subscription: string;
  /** `<topic>/<partition>@<offset>` of the original record. */
  readonly source: string;
  readonly attempts: number;
};

/** Header names on a dead-lettered record; its key and value are the original's, unchanged. */
export const DEAD_LETTER_HEADERS = {
  reason: 'opal-dlq-reason',
  subscription: 'opal-dlq-subscription',
  source: 'opal-dlq-source',
  attempts: 'opal-dlq-attempts',
  eventType: 'opal-dlq-event-type',
} as const;

export async function deadLetter(producer: Pick<Producer, 'send'>, topic: string, e: StoredEvent, why: DeadLetterReason): Promise<void> {
  await producer.send({
    topic,
    acks: -1,
    messages: [
      {
        key: e.streamId,
        value: Buffer.from(encodeEnvelope(e)),
        headers: {
          [DEAD_LETTER_HEADERS.reason]: why.reason.slice(0, 2000),
          [DEAD_LETTER_HEADERS.subscription]: why.subscription,
          [DEAD_LETTER_HEADERS.source]: why.source,
          [DEAD_LETTER_HEADERS.attempts]: String(why.attempts),
          [DEAD_LETTER_HEADERS.eventType]: e.type,
        },
      },
    ],
  });
}

/** One record of the dead-letter topic: the event as it was delivered, and why it was set aside. */
export type DeadLetterRecord = DeadLetterReason & {
  /** `<dead-letter topic>/<partition>@<offset>` of this record. */
  readonly at: string;
  readonly event: StoredEvent;
};

/** Every record of the dead-letter topic, up to its end when called, in order. */
export async function readDeadLetters(kafka: Kafka, admin: Admin, topic: string): Promise<DeadLetterRecord[]> {
  const ends = await highWatermarks(admin, topic);
  const left = new Map([...ends].filter(([, high]) => high > 0));
  if (left.size === 0) return [];
  const byPartition = new Map<number, DeadLetterRecord[]>();
  // A group of its own that never commits, read from offset zero up to the ends seen above.
  const consumer = kafka.consumer({ groupId: `dead-letters.${randomUUID()}`, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const high = left.get(batch.partition);
          if (high === undefined) return;
          for (const m of batch.messages) {
            const offset = Number(m.offset);
            if (offset >= high || !m.value) continue;
            const header = (name: string) => m.headers?.[name]?.toString() ?? '';
            const source = header(DEAD_LETTER_HEADERS.source);
            const cut = source.lastIndexOf('@');
            // The event at its place in the log, as the subscription had it.
            const position = { partition: source.slice(0, cut), offset: Number(source.slice(cut + 1)) };
            let list = byPartition.get(batch.partition);
            if (!list) byPartition.set(batch.partition, (list = []));
            list.push({
              at: `${topic}/${batch.partition}@${offset}`,
              event: decodeEnvelopeFast(m.value, 0, m.value.length, position),
              reason: header(DEAD_LETTER_HEADERS.reason),
              subscription: header(DEAD_LETTER_HEADERS.subscription),
              source,
              attempts: Number(header(DEAD_LETTER_HEADERS.attempts)),
            });
          }
          if (Number(batch.lastOffset()) >= high - 1) left.delete(batch.partition);
          if (left.size === 0) resolve();
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  // By partition of the dead-letter topic; each partition's batches came in offset order.
  return [...byPartition].sort(([a], [b]) => a - b).flatMap(([, records]) => records);
}
