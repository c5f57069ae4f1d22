import { Inject, Injectable, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, EventLogError, withEventSpan, type EventLog, type StoredEvent, type Subscription } from '@opal/event-log';
import { CLOCK, LOGGER, ProjectionHost, type Clock } from '@opal/service-runtime';
import { receiptStream } from '../domain/attribution.events.js';
import { computeReceipt } from '../domain/compute-receipt.js';
import { parseVersionKey, resolveVersions, versionKey, type DatanetVersionRef } from '../domain/datanet-version.js';
import { decideReceipt, evolveReceipt, initialReceiptState } from '../domain/receipt.decider.js';
import type { InferenceCompleted } from '../domain/upstream.events.js';
import { attributionCodec, inferenceCompletedCodec, PRODUCER, versionPublishedCodec } from './attribution.codecs.js';
import { IndexBuilderReactor } from './index-builder.reactor.js';
import { IndexCatalog } from './index-catalog.js';
import { paramsInForce } from './params-in-force.js';

/** The Datanet versions an inference is attributed against: its well-formed entries, latest per Datanet. */
export function inferenceVersions(versions: readonly string[]): DatanetVersionRef[] {
  return resolveVersions(versions.map(parseVersionKey).filter((v): v is DatanetVersionRef => v !== undefined));
}

const SUBSCRIPTION = 'attribution.receipt-writer';

/**
 * Writes exactly one AttributionComputed per InferenceCompleted, to the stream
 * `attribution-<inference id>` with expected version no_stream: a redelivered event (or a second
 * instance) finds the receipt there and appends nothing. Before it computes a receipt, every version
 * the inference names is indexed, or the index builder has handled every Datanet version published
 * before the inference (so an index still to come is used, and one set aside is known to be
 * missing): on the embedded log (one order) it waits for the builder to pass the inference's position;
 * on a log of partitions (Kafka), where that position says nothing of the others, for the builder
 * to pass the ends, taken after the inference was read, of the partitions that hold the versions.
 */
@Injectable()
export class ReceiptWriterReactor implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription: Subscription | undefined;

  constructor(
    @Inject(EVENT_LOG) private readonly log: EventLog,
    private readonly builder: IndexBuilderReactor,
    private readonly catalog: IndexCatalog,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
    /** Where a subscription that stops for good, or an event set aside, is reported (absent: logged only). */
    @Optional() @Inject(ProjectionHost) private readonly host?: Pick<ProjectionHost, 'subscriptionHooks'>,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.log.subscribe({
      name: SUBSCRIPTION,
      from: 'checkpoint',
      batchSize: 200,
      streams: inferenceCompletedCodec.streams,
      handler: (batch) => this.handle(batch),
      onError: (err) => this.logger.error({ err }, 'attribution failed; retrying'),
      ...(this.host?.subscriptionHooks(SUBSCRIPTION) ?? {}),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.stop();
  }

  async handle(batch: readonly StoredEvent[]): Promise<void> {
    // Once per batch, and only when a receipt is to be written (see attribute).
    let versionsHandled: Promise<void> | undefined;
    const builderPassed = (cause: StoredEvent) => {
      if (!this.log.endsOf) return this.builder.handledPast(cause.position);
      versionsHandled ??= this.log.endsOf(versionPublishedCodec.streams).then((ends) => this.builder.handledUpTo(ends));
      return versionsHandled;
    };
    for (const stored of batch) {
      const e = inferenceCompletedCodec.decode(stored);
      // Continues the inference's trace: the receipt's append carries it on.
      if (e) await withEventSpan(stored, 'attribution.attribute', () => this.attribute(e.data, stored, builderPassed));
    }
  }

  private async attribute(inference: InferenceCompleted['data'], cause: StoredEvent, builderPassed: (cause: StoredEvent) => Promise<void>): Promise<void> {
    const stream = receiptStream(inference.inferenceId);
    let state = initialReceiptState;
    for (const s of await this.log.readStream(stream)) state = evolveReceipt(state, attributionCodec.decode(s)!);
    if (state.computed) return;
    const refs = inferenceVersions(inference.datanetVersions);
    // The usual case: every version named is indexed already, and what the builder is busy with
    // (another Datanet's new version) cannot change this receipt. Otherwise the missing index may
    // still be coming: wait for the builder to pass it (or set it aside) before computing.
    let indexed = await this.catalog.states(refs);
    if (!indexed.every((s) => s.built)) {
      await builderPassed(cause);
      indexed = await this.catalog.states(refs);
    }
    const indexes = await this.catalog.openBuilt(refs, indexed);
    // A version whose index build was set aside (its content missing, a bug): the receipt credits
    // none of its contributors, and says so only by leaving it out of its datanet_versions.
    const unindexed = refs.filter((_, i) => !indexed[i]!.built).map(versionKey);
    if (unindexed.length > 0) {
      this.logger.warn({ inferenceId: inference.inferenceId, unindexed }, 'receipt computed without the indexes of Datanet versions the inference names: their contributors get no credit from it');
    }
    const receipt = computeReceipt(inference, indexes, paramsInForce());
    const events = decideReceipt(state, receipt).map((ev) =>
      attributionCodec.encode(ev, this.clock.now(), { causationId: cause.eventId, correlationId: cause.correlationId }),
    );
    try {
      await this.log.append(stream, events, { expectedVersion: 'no_stream', producer: PRODUCER });
    } catch (error) {
      if (error instanceof EventLogError && error.code === 'VERSION_CONFLICT') return; // written by another delivery
      throw error;
    }
  }
}
