import { EventLogError, TransientError, withBatchSpan, type Cursor, type EventLog, type StoredEvent, type Subscription } from '@opal/event-log';
import type { DomainEvent, RecordedEvent } from './domain-event.js';
import { DocumentConflictError, type Doc, type DocumentStore, type DocWrite, type ProjectionCheckpoint } from './document-store.port.js';
import { evolveGuarded } from './guarded-evolve.js';
import { failedOn, nameEvent } from './projection-failure.js';
import type { Projection } from './projection.js';

/**
 * Events per batch at most, for remote (guarded) stores and for in-process ones. Remote stores pay
 * per written document: larger batches write a document touched by many events once for more of them.
 */
export const REMOTE_STORE_BATCH = 20_000;
export const LOCAL_STORE_BATCH = 5000;
/**
 * How often a projection on a guarded store stores how far the log has been read when no batch of
 * its own did: a projection whose events are rare resumes from there, not from its last event.
 */
export const PROGRESS_EVERY_MS = 1000;

/** Conflicting writes with other processes in a row before a batch is handed back to the log to try later. */
export const CONFLICT_TRIES = 100;

export type ProjectionRunnerOptions = {
  readonly batchSize?: number;
  readonly onError?: (error: unknown) => void;
  /** The log stopped delivering to this projection for good: its state goes stale from here on. */
  readonly onFailed?: (error: unknown) => void;
  /** A batch is committed: the events it applied, and how long that took. */
  readonly onCommitted?: (batch: { readonly events: number; readonly seconds: number }) => void;
  /** The log set an event aside that kept failing (see SubscribeOptions.onDeadLettered). */
  readonly onDeadLettered?: (event: StoredEvent, reason: string) => void;
  /** The store held this projection's state as another version built it: it is built again from offset zero. */
  readonly onRebuild?: (versions: { readonly stored: number; readonly current: number }) => void;
};

/**
 * Keeps one projection up to date: subscribes to the log from the checkpoint stored with the
 * projection's state, applies each batch (skipping events whose stream sequence it has already
 * applied, so redelivery is harmless; on a guarded store, the documents' guards do that) and
 * commits documents and checkpoint together.
 */
export class ProjectionRunner<E extends DomainEvent> {
  private subscription: Subscription | undefined;
  private streams: Record<string, number> = {};
  private applied = 0;
  private fromBeginning = false;
  /** The cursor last stored with the state (guarded stores), as JSON, and the timer that stores it. */
  private storedCursor = '';
  private progressTimer: ReturnType<typeof setInterval> | undefined;
  private storingProgress: Promise<void> | undefined;

  constructor(
    private readonly log: EventLog,
    private readonly store: DocumentStore,
    readonly projection: Projection<E>,
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    const v = projection.version;
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`projection ${projection.name}: version ${v} is not a positive integer`);
    // In-process stores offer peek (read as needed, stage, write once); remote ones the guarded
    // reads and writes that make a batch idempotent per document without transactions.
    if (!store.peek && !(store.getGuarded && store.commitGuarded)) {
      throw new Error(`projection ${projection.name}: the document store offers neither peek nor guarded reads and writes`);
    }
  }

  async start(): Promise<void> {
    const p = this.projection;
    await this.store.prepare(p.name, p.collections, this.version);
    let checkpoint = await this.store.loadCheckpoint(p.name);
    const stored = checkpoint?.version ?? 1;
    if (checkpoint && stored !== this.version) {
      // Continuing another version's state would give documents no replay of the log gives.
      this.options.onRebuild?.({ stored, current: this.version });
      await this.store.reset(p.name, p.collections.map((c) => c.name));
      checkpoint = undefined;
      this.fromBeginning = true;
    }
    if (checkpoint) await this.assertSameLog(checkpoint.cursor);
    this.streams = { ...(checkpoint?.streams ?? {}) };
    this.applied = checkpoint?.applied ?? 0;
    // A guarded store (no transactions) shares the log's partitions through its 'checkpoint'
    // subscription (a consumer group) between the processes running the same projection.
    const guarded = this.guarded && !this.fromBeginning;
    this.fromBeginning = false;
    this.subscription = this.log.subscribe({
      name: projectionSubscription(p.name, this.version),
      from: guarded ? 'checkpoint' : checkpoint ? checkpoint.cursor : 'beginning',
      // Each partition resumes from the cursor stored with the state (none: offset zero), never from
      // the group's offsets alone, which may be another database's (a new one, a restored backup).
      resume: guarded ? async () => (await this.store.loadCheckpoint(p.name))?.cursor ?? {} : undefined,
      batchSize: this.options.batchSize ?? (guarded ? REMOTE_STORE_BATCH : LOCAL_STORE_BATCH),
      // Only the streams that can hold the projection's events (on Kafka, their topics).
      streams: p.codec.streams,
      handler: (batch) => this.apply(batch),
      onError: (e) => this.options.onError?.(e),
      onFailed: (e) => this.options.onFailed?.(e),
      onDeadLettered: (e, reason) => this.options.onDeadLettered?.(e, reason),
    });
    if (guarded) {
      this.progressTimer = setInterval(() => {
        this.storingProgress ??= this.storeProgress().finally(() => (this.storingProgress = undefined));
      }, PROGRESS_EVERY_MS);
      this.progressTimer.unref();
    }
  }

  /**
   * Refuses a stored read model that was built from another log: its cursor names none of the
   * partitions this log holds its events in (another topic prefix or layout, the same database kept
   * across an export and import), or is past a partition's end (topics made again, another
   * cluster). Resuming it would apply every event a second time, or skip events, with nothing to
   * say so. Only where the log tells its partitions' ends (Kafka); not when it cannot be asked now
   * (the subscription then waits the outage out, as before).
   */
  private async assertSameLog(stored: Cursor): Promise<void> {
    const keys = Object.keys(stored);
    if (!this.log.endsOf || keys.length === 0) return;
    const ends = await this.log.endsOf(this.projection.codec.streams).catch(() => undefined);
    if (!ends) return;
    const name = this.projection.name;
    const remedy = 'point OPAL_STORE at a database of its own for this log (its read models are built from offset zero), or drop this read model there';
    if (!keys.some((k) => k in ends)) {
      throw new EventLogError('FAILED_PRECONDITION', `read model ${name}: stored for the partitions ${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''}, which this log does not have (it holds ${Object.keys(ends).slice(0, 3).join(', ')}): a read model of another log; ${remedy}`);
    }
    const past = keys.find((k) => k in ends && stored[k]! > ends[k]!);
    if (past) throw new EventLogError('FAILED_PRECONDITION', `read model ${name}: stored at ${past}@${stored[past]}, past that partition's end (${ends[past]}): a read model of another log, or topics made again; ${remedy}`);
  }

  /**
   * Stores the subscription's cursor with the state when it moved past what the batches stored: the
   * records it passed hold none of the projection's events (other streams, set-aside poison), and a
   * restart resumes after them (see SubscribeOptions.resume). Only cursor entries move: `$max` per
   * partition in the store, so a batch committed meanwhile is never undone.
   */
  private async storeProgress(): Promise<void> {
    const subscription = this.subscription;
    if (!subscription) return;
    const cursor = subscription.cursor();
    const key = JSON.stringify(cursor);
    if (key === this.storedCursor || Object.keys(cursor).length === 0) return;
    try {
      await this.store.commitGuarded!(this.projection.name, [], { cursor, streams: {}, applied: this.applied, version: this.version });
      this.storedCursor = key;
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  /** Rebuilds from offset zero: drops the state, then starts over. */
  async rebuild(): Promise<void> {
    await this.stop();
    await this.store.prepare(this.projection.name, this.projection.collections, this.version);
    await this.store.reset(this.projection.name, this.projection.collections.map((c) => c.name));
    this.fromBeginning = true;
    await this.start();
  }

  async caughtUp(): Promise<void> {
    await this.subscription?.caughtUp();
  }

  private get version(): number {
    return this.projection.version ?? 1;
  }

  private get guarded(): boolean {
    return !!this.store.getGuarded && !!this.store.commitGuarded;
  }

  get appliedEvents(): number {
    return this.applied;
  }

  /** Records of the log the projection (all its processes) has yet to apply; undefined while stopped. */
  async lag(): Promise<number | undefined> {
    return this.subscription?.lag();
  }

  async stop(): Promise<void> {
    const storing = this.progressTimer !== undefined;
    clearInterval(this.progressTimer);
    this.progressTimer = undefined;
    await this.storingProgress;
    // Where it got to, stored once more: a restart, and `opal read-models`, start from there.
    if (storing) await this.storeProgress();
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  async apply(batch: readonly StoredEvent[]): Promise<void> {
    const p = this.projection;
    const decoded: RecordedEvent<E>[] = [];
    const positions: StoredEvent['position'][] = [];
    // A guarded store skips, per document, the positions it has applied, and the log's subscriptions
    // never deliver a record that does not extend its stream (a copy, a loser): the per-stream
    // guard below would only repeat that, at ~107 bytes of heap per stream the process has seen.
    const streams = this.guarded ? undefined : this.streams;
    const undo: [string, number | undefined][] = [];
    // Nothing of this batch was committed: forget its sequences so the retry applies it.
    const forget = () => {
      for (let i = undo.length - 1; i >= 0; i--) {
        const [stream, last] = undo[i]!;
        if (last === undefined) delete streams![stream];
        else streams![stream] = last;
      }
    };
    for (const stored of batch) {
      if (!p.codec.handles(stored.type)) continue;
      if (streams) {
        const last = streams[stored.streamId];
        if (last !== undefined && stored.streamSeq <= last) continue; // already applied: redelivered
        undo.push([stored.streamId, last]);
        streams[stored.streamId] = stored.streamSeq;
      }
      try {
        decoded.push(p.codec.decode(stored)!);
      } catch (error) {
        forget();
        throw failedOn(p.name, nameEvent(stored, stored.position), error);
      }
      positions.push(stored.position);
    }
    const started = performance.now();
    try {
      if (decoded.length === 0) await this.evolveAndCommit(batch, decoded, positions);
      else await withBatchSpan(batch, `projection ${p.name}`, { 'opal.projection': p.name, 'opal.events': decoded.length }, () => this.evolveAndCommit(batch, decoded, positions));
    } catch (error) {
      forget();
      throw error;
    }
    this.options.onCommitted?.({ events: decoded.length, seconds: (performance.now() - started) / 1000 });
  }

  private async evolveAndCommit(batch: readonly StoredEvent[], decoded: RecordedEvent<E>[], positions: StoredEvent['position'][]): Promise<void> {
    const next = batch.length > 0 ? nextCursor(this.subscription?.cursor(), batch) : undefined;
    if (decoded.length === 0) {
      // A guarded store resumes through the log's shared checkpoint (see start), never through the
      // cursor it stores: a batch with none of the projection's events has nothing to write there.
      if (next && !this.guarded) await this.commit([], next);
      return;
    }
    if (this.guarded) return this.commitGuarded(decoded, positions, next!);
    const writes = this.evolveLocal(decoded, positions, this.store.peek!.bind(this.store));
    this.applied += decoded.length;
    try {
      await this.commit(writes, next!);
    } catch (error) {
      this.applied -= decoded.length;
      throw error;
    }
  }

  /** In-process store: read documents as they are needed, stage the new ones, write each once. */
  private evolveLocal(decoded: readonly RecordedEvent<E>[], positions: readonly StoredEvent['position'][], peek: (collection: string, id: string) => Doc | undefined): DocWrite[] {
    const p = this.projection;
    const staged = new Map<string, Map<string, Doc | null>>();
    for (const c of p.collections) staged.set(c.name, new Map());
    let i = 0;
    try {
      for (; i < decoded.length; i++) {
        const event = decoded[i]!;
        for (const ref of p.route(event)) {
          const docs = staged.get(ref.collection)!;
          const held = docs.get(ref.id);
          const before = held === undefined ? peek(ref.collection, ref.id) : (held ?? undefined);
          const after = p.evolve(ref, before, event);
          if (after !== undefined && after !== before) docs.set(ref.id, after);
        }
      }
    } catch (error) {
      throw failedOn(p.name, nameEvent({ type: p.codec.fullType(decoded[i]!.type), ...decoded[i]!.meta }, positions[i]), error);
    }
    const writes: DocWrite[] = [];
    for (const [collection, docs] of staged) for (const [id, doc] of docs) writes.push({ collection, id, doc });
    return writes;
  }

  /** Guarded store: skip per document what it has seen; on a conflict with another writer, redo. */
  private async commitGuarded(decoded: readonly RecordedEvent<E>[], positions: StoredEvent['position'][], next: Record<string, number>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const writes = await evolveGuarded(this.projection, this.store, decoded, positions);
      const checkpoint: ProjectionCheckpoint = { cursor: next, streams: {}, applied: this.applied + decoded.length, version: this.version };
      try {
        await this.store.commitGuarded!(this.projection.name, writes, checkpoint);
        this.applied += decoded.length;
        this.storedCursor = JSON.stringify(next);
        return;
      } catch (error) {
        if (!(error instanceof DocumentConflictError)) throw error;
        // Other writers, not the events: the log tries the batch again later, and never sets its
        // events aside as poison (a conflict counted as the handler failing had dead-lettered them).
        if (attempt >= CONFLICT_TRIES) throw new TransientError(`projection ${this.projection.name}: documents still changed by other writers after ${attempt} tries`, { cause: error });
        await new Promise((r) => setTimeout(r, Math.min(2 * attempt, 50) * Math.random()));
      }
    }
  }

  private async commit(writes: DocWrite[], cursor: Record<string, number>): Promise<void> {
    const checkpoint: ProjectionCheckpoint = { cursor, streams: this.streams, applied: this.applied, version: this.version };
    await this.store.commit(this.projection.name, writes, checkpoint);
  }
}

/**
 * The log subscription of a projection's version: one of its own from version 2 on, since its
 * progress is not that of the version before (which may run beside it, in a rolling upgrade).
 */
export function projectionSubscription(name: string, version: number): string {
  return version === 1 ? `projection.${name}` : `projection.${name}.v${version}`;
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
