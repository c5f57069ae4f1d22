import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { EVENT_LOG, EventLogError, withEventSpan, type EventLog, type StoredEvent, type Subscription } from '@opal/event-log';
import { CLOCK, LOGGER, type Clock } from '@opal/service-runtime';
import { receiptStream } from '../domain/attribution.events.js';
import { computeReceipt } from '../domain/compute-receipt.js';
import { parseVersionKey, resolveVersions, type DatanetVersionRef } from '../domain/datanet-version.js';
import { decideReceipt, evolveReceipt, initialReceiptState } from '../domain/receipt.decider.js';
import type { InferenceCompleted } from '../domain/upstream.events.js';
import { attributionCodec, inferenceCompletedCodec, PRODUCER } from './attribution.codecs.js';
import { IndexBuilderReactor } from './index-builder.reactor.js';
import { IndexCatalog } from './index-catalog.js';
import { paramsInForce } from './params-in-force.js';

/** The Datanet versions an inference is attributed against: its well-formed entries, latest per Datanet. */
export function inferenceVersions(versions: readonly string[]): DatanetVersionRef[] {
  return resolveVersions(versions.map(parseVersionKey).filter((v): v is DatanetVersionRef => v !== undefined));
}

/**
 * Writes exactly one AttributionComputed per InferenceCompleted, to the stream
 * `attribution-<inference id>` with expected version no_stream: a redelivered event (or a second
 * instance) finds the receipt there and appends nothing. It waits for the index builder to pass
 * the inference's position, so an index announced before the inference is always used.
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
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.log.subscribe({
      name: 'attribution.receipt-writer',
      from: 'checkpoint',
      batchSize: 200,
      streams: inferenceCompletedCodec.streams,
      handler: (batch) => this.handle(batch),
      onError: (err) => this.logger.error({ err }, 'attribution failed; retrying'),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.stop();
  }

  async handle(batch: readonly StoredEvent[]): Promise<void> {
    for (const stored of batch) {
      const e = inferenceCompletedCodec.decode(stored);
      // Continues the inference's trace: the receipt's append carries it on.
      if (e) await withEventSpan(stored, 'attribution.attribute', () => this.attribute(e.data, stored));
    }
  }

  private async attribute(inference: InferenceCompleted['data'], cause: StoredEvent): Promise<void> {
    const stream = receiptStream(inference.inferenceId);
    let state = initialReceiptState;
    for (const s of await this.log.readStream(stream)) state = evolveReceipt(state, attributionCodec.decode(s)!);
    if (state.computed) return;
    await this.builder.handledPast(cause.position);
    const indexes = await this.catalog.openBuilt(inferenceVersions(inference.datanetVersions));
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
