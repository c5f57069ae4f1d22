import type { Producer } from 'kafkajs';
import { encodeEnvelope, type StoredEvent } from '@opal/event-log';

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

export async function deadLetter(producer: Producer, topic: string, e: StoredEvent, why: DeadLetterReason): Promise<void> {
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
