import { equalBytes, GENESIS_HASH, HASH_BYTES, StreamHeadTable, type StoredEvent } from '@opal/event-log';

/**
 * The rule that makes a Kafka partition the arbiter of optimistic concurrency: an event belongs to
 * its stream only if it extends the stream's chain (sequence head+1, prev_hash = head's hash) at its
 * place in partition order. Two writers that raced on the same head both land in the partition; the
 * first one in partition order wins, the other is a "loser" that every reader skips the same way.
 *
 * Each stream's last admitted event is kept in a StreamHeadTable: its hash is copied into the
 * table's arrays (a decoded record's hash is a view into the buffer kafkajs fetched it in, which a
 * head kept for good would keep whole), and a stream costs its id, a map entry and 36 bytes. With an
 * object and a hash array per stream, 200,000 one-event streams (inferences) held 76 MB of heap.
 */
export class StreamHeads {
  private readonly heads = new StreamHeadTable();

  /**
   * @param trustUnknown a reader that starts mid-partition (a subscription resuming from a checkpoint)
   *   has not seen the streams' earlier events and takes the first event of each stream as it comes.
   */
  constructor(private readonly trustUnknown: boolean) {}

  admit(e: StoredEvent): boolean {
    // No chain goes on from an event without a hash of the right size.
    if (e.hash.length !== HASH_BYTES) return false;
    const slot = this.heads.slotOf(e.streamId);
    if (slot === undefined) {
      if (!this.trustUnknown && (e.streamSeq !== 1 || !equalBytes(e.prevHash, GENESIS_HASH))) return false;
    } else if (e.streamSeq !== this.heads.version(slot) + 1 || !this.heads.hashEquals(slot, e.prevHash)) {
      return false;
    }
    this.set(slot, e);
    return true;
  }

  /** Takes `e` as its stream's head, unchecked: the caller has established that it counts. */
  adopt(e: StoredEvent): void {
    if (e.hash.length === HASH_BYTES) this.set(this.heads.slotOf(e.streamId), e);
  }

  private set(slot: number | undefined, e: StoredEvent): void {
    this.heads.set(slot ?? this.heads.add(e.streamId), e.streamSeq, e.hash);
  }

  /** The stream's last admitted event: its sequence and (a copy of) its hash. */
  head(streamId: string): { seq: number; hash: Uint8Array } | undefined {
    const slot = this.heads.slotOf(streamId);
    return slot === undefined ? undefined : { seq: this.heads.version(slot), hash: this.heads.hash(slot) };
  }

  /** Whether the stream has an admitted event here. */
  has(streamId: string): boolean {
    return this.heads.slotOf(streamId) !== undefined;
  }

  clear(): void {
    this.heads.clear();
  }

  get size(): number {
    return this.heads.size;
  }
}
