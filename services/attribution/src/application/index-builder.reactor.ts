import { Inject, Injectable, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, EventLogError, TransientError, type Cursor, type EventLog, type LogPosition, type StoredEvent, type Subscription } from '@opal/event-log';
import { CLOCK, LOGGER, ProjectionHost, type Clock } from '@opal/service-runtime';
import { streamsOfEventTypes } from '@opal/contracts';
import { indexStream } from '../domain/attribution.events.js';
import { decideIndexBuilt, evolveIndex, initialIndexState } from '../domain/index.decider.js';
import type { DatanetVersionPublished } from '../domain/upstream.events.js';
import { versionKey } from '../domain/datanet-version.js';
import { attributionCodec, inferenceCompletedCodec, PRODUCER, versionPublishedCodec } from './attribution.codecs.js';
import { CONTRIBUTION_CONTENT, INDEX_FILES, type ContributionContent, type IndexFiles } from './attribution.ports.js';
import { buildingTransient, buildWorkers, manifestDocuments } from './manifest-documents.js';
import { manifestFromLog } from './version-manifest.js';

/** The longest a receipt waits for the builder at a time before its batch goes back to the log. */
const WAIT_MS = 5000;

const builderStreams = streamsOfEventTypes([...versionPublishedCodec.types, ...inferenceCompletedCodec.types]);

const SUBSCRIPTION = 'attribution.index-builder';

/**
 * Builds each published Datanet version's index and announces it with AttributionIndexBuilt. A
 * subscription with a stored checkpoint, so a restart resumes with the version it was building;
 * at-least-once safe because the announcement goes to the version's own stream with an expected
 * version (a redelivery or a second instance finds it built and appends nothing).
 */
@Injectable()
export class IndexBuilderReactor implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription: Subscription | undefined;

  constructor(
    @Inject(EVENT_LOG) private readonly log: EventLog,
    @Inject(INDEX_FILES) private readonly indexes: IndexFiles,
    @Inject(CONTRIBUTION_CONTENT) private readonly content: ContributionContent,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
    /** Where a subscription that stops for good, or an event set aside, is reported (absent: logged only). */
    @Optional() @Inject(ProjectionHost) private readonly host?: Pick<ProjectionHost, 'subscriptionHooks'>,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.log.subscribe({
      name: SUBSCRIPTION,
      from: 'checkpoint',
      batchSize: 500,
      // Datanets' streams, for the versions to index; and the inferences' too, though it builds
      // nothing from them: handledPast() waits for this subscription to pass an inference's position.
      streams: builderStreams,
      handler: (batch) => this.handle(batch),
      onError: (err) => this.logger.error({ err }, 'index build failed; retrying'),
      ...(this.host?.subscriptionHooks(SUBSCRIPTION) ?? {}),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.stop();
  }

  /**
   * Resolves once every event up to and including `position` has been handled, by this process or,
   * scaled out, by the replica whose builder holds that partition.
   */
  handledPast(position: LogPosition): Promise<void> {
    return this.waitFor((cursor) => (cursor[position.partition] ?? 0) > position.offset, `${position.partition}@${position.offset}`);
  }

  /**
   * Resolves once every record below `ends` (per partition) has been handled, by this process or by
   * the replicas whose builders hold those partitions: on a log of several partitions, where an
   * inference's position says nothing of the Datanet versions published in other partitions
   * before it, the versions the log held when `ends` was taken are then built (or set aside).
   */
  handledUpTo(ends: Cursor, waitMs = WAIT_MS): Promise<void> {
    return this.waitFor((cursor) => Object.entries(ends).every(([partition, end]) => (cursor[partition] ?? 0) >= end), `the ends ${JSON.stringify(ends)}`, waitMs);
  }

  /**
   * Waits at most `waitMs` (WAIT_MS) for the builder's cursor to pass; then a TransientError, so the caller's
   * batch is tried again later: a subscription being stopped (a shutdown, a rebalance) is not held
   * up by a builder that is busy, behind, or stopped for good, and the log away while the shared
   * cursor is asked for is an outage to wait out, not a poison event.
   */
  private async waitFor(passed: (cursor: Cursor) => boolean, what: string, waitMs = WAIT_MS): Promise<void> {
    const until = Date.now() + waitMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
      const sub = this.subscription;
      try {
        if (sub && (passed(sub.cursor()) || passed(await sub.sharedCursor()))) return;
      } catch (error) {
        throw new TransientError(`index builder: its progress could not be read (${error instanceof Error ? error.message : String(error)})`, { cause: error });
      }
      if (Date.now() >= until) throw new TransientError(`index builder: not past ${what} after ${waitMs / 1000} s (building, behind, or its partitions being handed over); trying again`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  async handle(batch: readonly StoredEvent[]): Promise<void> {
    for (const stored of batch) {
      const e = versionPublishedCodec.decode(stored);
      if (e) await this.build(e.data, stored);
    }
  }

  private async build(v: DatanetVersionPublished['data'], cause: StoredEvent): Promise<void> {
    const stream = indexStream(v.datanetId, v.version);
    let state = initialIndexState;
    for (const s of await this.log.readStream(stream)) state = evolveIndex(state, attributionCodec.decode(s)!);
    if (state.built) return;
    const ref = { datanetId: v.datanetId, version: v.version };
    const started = Date.now();
    const entries = await manifestFromLog(this.log, v, cause);
    const manifest = await buildingTransient(versionKey(ref), () => this.indexes.build(ref, manifestDocuments(entries, this.content), { workers: buildWorkers(v.totalBytes) }));
    const decision = decideIndexBuilt(state, {
      datanetId: v.datanetId,
      version: v.version,
      indexHash: manifest.indexHash,
      tokens: BigInt(manifest.tokens),
      shards: manifest.shards.length,
      tokenizer: manifest.tokenizerId,
      documents: manifest.documents,
    });
    const events = decision.events.map((ev) => attributionCodec.encode(ev, this.clock.now(), { causationId: cause.eventId, correlationId: cause.correlationId }));
    try {
      await this.log.append(stream, events, { expectedVersion: 'no_stream', producer: PRODUCER });
    } catch (error) {
      if (error instanceof EventLogError && error.code === 'VERSION_CONFLICT') return; // built by another delivery
      throw error;
    }
    this.logger.info({ version: versionKey(ref), indexHash: manifest.indexHash, tokens: manifest.tokens, ms: Date.now() - started }, 'attribution index built');
  }
}
