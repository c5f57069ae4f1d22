import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Context, type Link, type Span, type SpanOptions } from '@opentelemetry/api';
import type { StoredEvent } from './envelope.js';

// Trace context (W3C `traceparent`) across the log: an append made while a span is active carries
// that span's context (Kafka: as record headers), a subscription hands it over with each event
// (StoredEvent.traceparent), and whoever reacts to the event continues the same trace. Nothing here
// records anything until a process turns tracing on (service-runtime's startTracing); until then
// each helper is a flag test.

let enabled = false;

/** Turned on once by the process that registers a tracer provider; the helpers below are no-ops before. */
export function enableTraceContext(): void {
  enabled = true;
}

export function traceContextEnabled(): boolean {
  return enabled;
}

export const tracer = () => trace.getTracer('opal');

/** The active span's context as W3C headers (`traceparent`, and `tracestate` if any); undefined when there is none. */
export function activeTraceHeaders(): Record<string, string> | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The context a carrier of W3C headers names (`traceparent`, `tracestate`); ROOT_CONTEXT when none. */
export function contextFrom(header: (name: 'traceparent' | 'tracestate') => string | undefined): Context {
  const traceparent = header('traceparent');
  if (!traceparent) return ROOT_CONTEXT;
  const tracestate = header('tracestate');
  return propagation.extract(ROOT_CONTEXT, tracestate ? { traceparent, tracestate } : { traceparent });
}

/** The context an event was appended in (ROOT_CONTEXT when it carries none). */
export function contextOfEvent(event: StoredEvent): Context {
  return event.traceparent ? contextFrom(() => event.traceparent) : ROOT_CONTEXT;
}

/**
 * Runs `fn` as the active span `name` under `parent`: a failure marks the span and goes on up, and
 * the span ends when `fn` settles (`onEnd` sees it just before).
 */
export function inSpan<T>(name: string, options: SpanOptions, parent: Context, fn: () => Promise<T>, onEnd?: (span: Span) => void): Promise<T> {
  return tracer().startActiveSpan(name, options, parent, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      onEnd?.(span);
      span.end();
    }
  });
}

/**
 * Runs `fn` in a consumer span that continues the trace the event was appended in: what `fn`
 * appends carries that trace on.
 */
export async function withEventSpan<T>(event: StoredEvent, name: string, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const attributes = { 'opal.stream_id': event.streamId, 'opal.stream_seq': event.streamSeq, 'opal.event_type': event.type };
  return inSpan(name, { kind: SpanKind.CONSUMER, attributes }, contextOfEvent(event), fn);
}

const MAX_LINKS = 32;

/**
 * Runs `fn` in one span for a whole batch of events (a read model applying them), linked to the
 * traces of the first events that carry one: a batch mixes many traces, so it parents none.
 */
export async function withBatchSpan<T>(events: readonly StoredEvent[], name: string, attributes: Record<string, string | number>, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const links: Link[] = [];
  for (const e of events) {
    if (links.length >= MAX_LINKS) break;
    if (!e.traceparent) continue;
    const linked = trace.getSpanContext(contextOfEvent(e));
    if (linked) links.push({ context: linked });
  }
  return inSpan(name, { kind: SpanKind.CONSUMER, links, attributes: { ...attributes, 'opal.records': events.length } }, ROOT_CONTEXT, fn);
}
