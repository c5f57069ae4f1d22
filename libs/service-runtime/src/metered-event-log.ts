import { SpanKind, context } from '@opentelemetry/api';
import { EventLogError, inSpan, traceContextEnabled, type AppendOptions, type EventLog, type NewEvent, type StoredEvent } from '@opal/event-log';
import { assertPlaced } from './stream-placement.js';

/** How an append went, as the append metrics count it. */
export type AppendOutcome = 'ok' | 'conflict' | 'error';

/** Delegates to the log; refuses misplaced events; reports each append's outcome and time. */
export class MeteredEventLog implements EventLog {
  constructor(
    private readonly log: EventLog,
    private readonly report: (outcome: AppendOutcome, events: number, seconds: number) => void,
  ) {}

  get concurrentWriters(): boolean | undefined {
    return this.log.concurrentWriters;
  }

  get reachable(): (() => Promise<boolean>) | undefined {
    const log = this.log;
    return log.reachable && (() => log.reachable!());
  }

  get endsOf(): EventLog['endsOf'] {
    const log = this.log;
    return log.endsOf && ((streams) => log.endsOf!(streams));
  }

  append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    try {
      assertPlaced(streamId, events);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!traceContextEnabled()) return this.timedAppend(streamId, events, options);
    // A producer span: the log carries its context with the records (Kafka headers).
    const attributes = { 'opal.stream_id': streamId, 'opal.events': events.length, 'opal.event_type': events[0]?.type ?? '' };
    return inSpan('event-log append', { kind: SpanKind.PRODUCER, attributes }, context.active(), () => this.timedAppend(streamId, events, options));
  }

  private async timedAppend(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<StoredEvent[]> {
    const started = performance.now();
    try {
      const stored = await this.log.append(streamId, events, options);
      this.report('ok', stored.length, (performance.now() - started) / 1000);
      return stored;
    } catch (error) {
      const conflict = error instanceof EventLogError && error.code === 'VERSION_CONFLICT';
      this.report(conflict ? 'conflict' : 'error', 0, (performance.now() - started) / 1000);
      throw error;
    }
  }

  streamVersion(streamId: string) {
    return this.log.streamVersion(streamId);
  }
  readStream(streamId: string, fromSeq?: number, limit?: number) {
    return this.log.readStream(streamId, fromSeq, limit);
  }
  read(...args: Parameters<EventLog['read']>) {
    return this.log.read(...args);
  }
  subscribe(...args: Parameters<EventLog['subscribe']>) {
    return this.log.subscribe(...args);
  }
  stats() {
    return this.log.stats();
  }
  close() {
    return this.log.close();
  }
}
