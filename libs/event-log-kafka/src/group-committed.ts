import type { Admin } from 'kafkajs';
import { committedOffsets } from './kafka-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A 'checkpoint' subscription's consumer group's committed offsets: read for sharedCursor and a
 * resume, and loaded at each join as the positions of the partitions this member has no better
 * position for.
 */
export class GroupCommitted {
  /** Loads begun (one per join): a load a later join began supersedes it. */
  private loads = 0;

  constructor(
    private readonly admin: Admin,
    private readonly groupId: string,
    private readonly topics: readonly string[],
    /** The member's positions, by partition: a load fills the ones missing. */
    private readonly positions: Map<string, number>,
    private readonly stopped: () => boolean,
    private readonly onError: (error: unknown) => void,
    /** Told when a load that had to wait (see load) got them. */
    private readonly loadedLate: () => void,
  ) {}

  /** The committed offset per partition of the topics (-1: none). */
  offsets(): Promise<Map<string, number>> {
    return committedOffsets(this.admin, this.groupId, this.topics);
  }

  /**
   * Loads them, tried a few times: a join can fall on a broker restart. If they stay out of reach
   * this resolves anyway, positions coming from the batches handled, and they are asked for again in
   * the background until they answer: a partition that gets no new record would otherwise have no
   * position, and caughtUp() would wait on it for good.
   */
  async load(): Promise<void> {
    const load = ++this.loads;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.fill();
      } catch (error) {
        if (attempt >= 5 || this.stopped()) {
          this.onError(error);
          void this.loadLater(load);
          return;
        }
        await sleep(200 * attempt);
      }
    }
  }

  private async loadLater(load: number): Promise<void> {
    for (let pause = 1000; !this.stopped() && this.loads === load; pause = Math.min(pause * 2, 30_000)) {
      await sleep(pause);
      if (this.stopped() || this.loads !== load) return;
      try {
        await this.fill();
        this.loadedLate();
        return;
      } catch {
        /* still out of reach: asked again after the next pause */
      }
    }
  }

  private async fill(): Promise<void> {
    for (const [key, offset] of await this.offsets()) {
      // A batch handled since the join already knows better than the committed offset.
      if (!this.positions.has(key)) this.positions.set(key, Math.max(0, offset));
    }
  }
}
