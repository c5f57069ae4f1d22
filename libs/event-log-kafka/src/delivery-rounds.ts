import type { EachBatchPayload } from 'kafkajs';
import type { StoredEvent } from '@opal/event-log';

type RoundEntry = { events: StoredEvent[]; payload: EachBatchPayload; resolve: () => void; reject: (e: unknown) => void };

/**
 * The partitions' batches of one fetch, handed over together as one round: kafkajs hands them to
 * eachBatch in the same tick (partitionsConsumedConcurrently), and a handler pays per batch (a
 * projection writes each touched document and its checkpoint once per batch). Rounds run one at a
 * time; each partition's batch still commits its own offset when its round is done.
 */
export class DeliveryRounds {
  private joining: RoundEntry[] = [];
  private rounds: Promise<void> = Promise.resolve();

  constructor(private readonly deliver: (events: StoredEvent[], payloads: EachBatchPayload[]) => Promise<void>) {}

  /** Resolves once the round this batch joins is delivered (rejects if it failed). */
  join(events: StoredEvent[], payload: EachBatchPayload): Promise<void> {
    return new Promise((resolve, reject) => {
      this.joining.push({ events, payload, resolve, reject });
      if (this.joining.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const round = this.joining;
    this.joining = [];
    this.rounds = this.rounds.then(async () => {
      const events = round.length === 1 ? round[0]!.events : round.flatMap((r) => r.events);
      try {
        await this.deliver(events, round.map((r) => r.payload));
        for (const r of round) r.resolve();
      } catch (error) {
        for (const r of round) r.reject(error);
      }
    });
  }
}
