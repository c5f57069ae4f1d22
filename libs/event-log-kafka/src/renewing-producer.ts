import type { Producer, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';
import { EventLogError } from '@opal/event-log';

type Held = {
  readonly producer: Producer;
  readonly ready: Promise<void>;
  /** Sends on it not settled yet. */
  busy: number;
  retired: boolean;
};

/**
 * The idempotent producer, made anew (a new producer id) after any send that failed.
 *
 * Why: the broker deduplicates a producer's batches by their sequence numbers, and kafkajs takes a
 * failed batch's numbers back. When a batch was appended but its answer never came (kafkajs gave up
 * retrying), the next batch to that partition reuses those numbers: with as many records it is
 * answered as a duplicate, with the earlier batch's offset, and never written; with a different count
 * every later batch to the partition is refused as out of order. A new producer id starts every
 * partition's numbers afresh, so nothing sent after a failure is taken for what was sent before it.
 *
 * The failed producer is disconnected once the sends still on it have settled.
 */
export class RenewingProducer {
  private held: Held;
  private readonly live = new Set<Held>();
  private closed = false;
  /** Producers made after the first: one per failed send. */
  renewals = 0;

  /** `first` is already connected; `make` makes (unconnected) the ones after it. */
  constructor(
    first: Producer,
    private readonly make: () => Producer,
  ) {
    this.held = this.hold(first, Promise.resolve());
  }

  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.use((p) => p.send(record));
  }

  /**
   * An answer without every partition sent to counts as a failed send too (the partitions it lacks
   * fail; see AppendBatcher): kafkajs can resolve so when a partition's leader moved mid-send to a
   * broker that had already answered for others, having taken that partition's sequence numbers back.
   */
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    return this.use(
      (p) => p.sendBatch(batch),
      (meta) => answersAll(batch, meta),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.live].map((h) => h.producer.disconnect()));
    this.live.clear();
  }

  private async use<T>(work: (producer: Producer) => Promise<T>, complete: (result: T) => boolean = () => true): Promise<T> {
    if (this.closed) throw new EventLogError('CLOSED', 'event log is closed');
    const held = this.held;
    held.busy++;
    try {
      await held.ready;
      const result = await work(held.producer);
      if (!complete(result)) this.retire(held);
      return result;
    } catch (error) {
      this.retire(held);
      throw error;
    } finally {
      held.busy--;
      if (held.retired && held.busy === 0) this.drop(held);
    }
  }

  /** Sends after this go to a new producer; the ones still on `held` finish there. */
  private retire(held: Held): void {
    if (held.retired) return;
    held.retired = true;
    if (this.held !== held || this.closed) return;
    const producer = this.make();
    this.renewals++;
    this.held = this.hold(producer, producer.connect());
  }

  private hold(producer: Producer, ready: Promise<void>): Held {
    const held: Held = { producer, ready, busy: 0, retired: false };
    ready.catch(() => undefined); // a failed connect fails the sends waiting on it, and retires it
    this.live.add(held);
    return held;
  }

  private drop(held: Held): void {
    this.live.delete(held);
    void held.producer.disconnect().catch(() => undefined);
  }
}

/** Whether the answer holds an offset for every partition the batch sent records to. */
function answersAll(batch: ProducerBatch, meta: readonly RecordMetadata[]): boolean {
  for (const { topic, messages } of batch.topicMessages ?? []) {
    const answered = new Set(meta.filter((m) => m.topicName === topic && Number(m.baseOffset) >= 0).map((m) => m.partition));
    for (const m of messages) if (m.partition !== undefined && !answered.has(m.partition)) return false;
  }
  return true;
}
