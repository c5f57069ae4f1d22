import type { EventLog, StoredEvent, Subscription } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import type { Doc, DocumentStore, DocWrite, ProjectionCheckpoint } from './document-store.port.js';
import type { Projection } from './projection.js';

export type ProjectionRunnerOptions = {
  readonly batchSize?: number;
  readonly onError?: (error: unknown) => void;
};

/**
 * Keeps one projection up to date: subscribes to the log from the checkpoint stored with the
 * projection's state, applies each batch (skipping events whose stream sequence it has already
 * applied, so redelivery is harmless) and commits documents and checkpoint together.
 */
export class ProjectionRunner<E extends DomainEvent> {
  private subscription: Subscription | undefined;
  private streams: Record<string, number> = {};
  private applied = 0;

  constructor(
    private readonly log: EventLog,
    private readonly store: DocumentStore,
    readonly projection: Projection<E>,
    private readonly options: ProjectionRunnerOptions = {},
  ) {}

  async start(): Promise<void> {
    const p = this.projection;
    await this.store.prepare(p.name, p.collections);
    const checkpoint = await this.store.loadCheckpoint(p.name);
    this.streams = { ...(checkpoint?.streams ?? {}) };
    this.applied = checkpoint?.applied ?? 0;
    this.subscription = this.log.subscribe({
      name: `projection.${p.name}`,
      from: checkpoint ? checkpoint.cursor : 'beginning',
      batchSize: this.options.batchSize ?? 5000,
      handler: (batch) => this.apply(batch),
      onError: (e) => this.options.onError?.(e),
    });
  }

  /** Rebuilds from offset zero: drops the state, then starts over. */
  async rebuild(): Promise<void> {
    await this.stop();
    await this.store.prepare(this.projection.name, this.projection.collections);
    await this.store.reset(this.projection.name, this.projection.collections.map((c) => c.name));
    await this.start();
  }

  async caughtUp(): Promise<void> {
    await this.subscription?.caughtUp();
  }

  get appliedEvents(): number {
    return this.applied;
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  async apply(batch: readonly StoredEvent[]): Promise<void> {
    const p = this.projection;
    const decoded: RecordedEvent<E>[] = [];
    const streams = this.streams;
    const undo: [string, number | undefined][] = [];
    for (const stored of batch) {
      if (!p.codec.handles(stored.type)) continue;
      const last = streams[stored.streamId];
      if (last !== undefined && stored.streamSeq <= last) continue; // already applied: redelivered
      undo.push([stored.streamId, last]);
      streams[stored.streamId] = stored.streamSeq;
      decoded.push(p.codec.decode(stored)!);
    }
    try {
      await this.evolveAndCommit(batch, decoded);
    } catch (error) {
      // Nothing of this batch was committed: forget its sequences so the retry applies it.
      for (let i = undo.length - 1; i >= 0; i--) {
        const [stream, last] = undo[i]!;
        if (last === undefined) delete streams[stream];
        else streams[stream] = last;
      }
      throw error;
    }
  }

  private async evolveAndCommit(batch: readonly StoredEvent[], decoded: RecordedEvent<E>[]): Promise<void> {
    const p = this.projection;
    const next = batch.length > 0 ? nextCursor(this.subscription?.cursor(), batch) : undefined;
    if (decoded.length === 0) {
      if (next) await this.commit([], next);
      return;
    }
    // Load every document the batch touches once, evolve in memory, write each once.
    const refsByCollection = new Map<string, Set<string>>();
    const routes = decoded.map((e) => p.route(e));
    for (const refs of routes) {
      for (const r of refs) {
        let ids = refsByCollection.get(r.collection);
        if (!ids) refsByCollection.set(r.collection, (ids = new Set()));
        ids.add(r.id);
      }
    }
    const working = new Map<string, Map<string, Doc | null>>();
    for (const [collection, ids] of refsByCollection) {
      working.set(collection, (await this.store.getMany(collection, [...ids])) as Map<string, Doc | null>);
    }
    const dirty = new Map<string, Set<string>>();
    for (let i = 0; i < decoded.length; i++) {
      const event = decoded[i]!;
      for (const ref of routes[i]!) {
        const docs = working.get(ref.collection)!;
        const before = docs.get(ref.id) ?? undefined;
        const after = p.evolve(ref, before, event);
        if (after === undefined || after === before) continue;
        docs.set(ref.id, after);
        let d = dirty.get(ref.collection);
        if (!d) dirty.set(ref.collection, (d = new Set()));
        d.add(ref.id);
      }
    }
    const writes: DocWrite[] = [];
    for (const [collection, ids] of dirty) {
      const docs = working.get(collection)!;
      for (const id of ids) writes.push({ collection, id, doc: docs.get(id) ?? null });
    }
    this.applied += decoded.length;
    try {
      await this.commit(writes, next!);
    } catch (error) {
      this.applied -= decoded.length;
      throw error;
    }
  }

  private async commit(writes: DocWrite[], cursor: Record<string, number>): Promise<void> {
    const checkpoint: ProjectionCheckpoint = { cursor, streams: this.streams, applied: this.applied };
    await this.store.commit(this.projection.name, writes, checkpoint);
  }
}

/** The cursor just past the batch, per partition. */
function nextCursor(current: Record<string, number> | undefined, batch: readonly StoredEvent[]): Record<string, number> {
  const out: Record<string, number> = { ...(current ?? {}) };
  for (const e of batch) {
    const n = e.position.offset + 1;
    if ((out[e.position.partition] ?? 0) < n) out[e.position.partition] = n;
  }
  return out;
}
