import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace, type Context, type Span } from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ServerInterceptingCall, ServerListenerBuilder, ResponderBuilder, status as grpcStatus, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { contextFrom, enableTraceContext, inSpan, traceContextEnabled, tracer } from '@opal/event-log';

let provider: NodeTracerProvider | undefined;

/**
 * Turns OpenTelemetry tracing on for this process: spans go in batches to an OTLP/HTTP collector at
 * `<endpoint>/v1/traces`, under the service name given. One provider per process: a second call
 * (another node in the same process) keeps the first. Without an endpoint nothing is recorded, and
 * nothing costs more than a flag test. `flush` sends what is still buffered (at shutdown).
 */
export function startTracing(endpoint: string | undefined, serviceName: string): { flush(): Promise<void> } {
  if (!endpoint) return { flush: async () => {} };
  if (!provider) {
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': serviceName }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }), { scheduledDelayMillis: 1000 })],
    });
    // Also sets the W3C trace-context propagator and the AsyncLocalStorage context manager.
    provider.register();
    enableTraceContext();
  }
  const p = provider;
  return { flush: () => p.forceFlush() };
}

/**
 * The gRPC server interceptor that runs each call in a server span: a child of the caller's span
 * when its metadata carries `traceparent`, a new trace otherwise. The handler runs in that span's
 * context, so the events it appends carry the trace on. Installed only where startTracing has an
 * endpoint.
 */
export function grpcTracingInterceptor(): ServerInterceptor {
  return (method, call) => {
    const [service = 'unknown', name = 'unknown'] = method.path.replace(/^\//, '').split('/');
    let span: Span | undefined;
    let ctx: Context = ROOT_CONTEXT;
    const end = (code: number, details?: string) => {
      span?.setAttribute('rpc.grpc.status_code', code);
      if (code !== grpcStatus.OK) span?.setStatus({ code: SpanStatusCode.ERROR, message: details });
      span?.end();
      span = undefined;
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata: Metadata, next) => {
        const parent = contextFrom((header) => {
          const [v] = metadata.get(header);
          return v === undefined ? undefined : String(v);
        });
        span = tracer().startSpan(`${service}/${name}`, { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': name } }, parent);
        ctx = trace.setSpan(parent, span);
        context.with(ctx, () => next(metadata));
      })
      .withOnReceiveMessage((message, next) => context.with(ctx, () => next(message)))
      .withOnReceiveHalfClose((next) => context.with(ctx, next))
      // A call cancelled before the handler answered gets no status: its span ends here (grpc-js
      // also tells of the close of an answered call as a cancel; the span has ended by then).
      .withOnCancel(() => end(grpcStatus.CANCELLED, 'cancelled by the client'))
      .build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        end(status.code ?? grpcStatus.OK, status.details);
        next(status);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}

/**
 * Runs an HTTP request's handling in a server span that continues the caller's trace from its
 * `traceparent` header; the span ends, with the response's status code, when `fn` settles.
 */
export function withHttpServerSpan<T>(req: IncomingMessage, res: ServerResponse, name: string, fn: () => Promise<T>): Promise<T> {
  if (!traceContextEnabled()) return fn();
  const parent = contextFrom((header) => {
    const v = req.headers[header];
    return Array.isArray(v) ? v[0] : v;
  });
  const attributes = { 'http.request.method': req.method ?? '', 'url.path': (req.url ?? '').split('?')[0]! };
  return inSpan(name, { kind: SpanKind.SERVER, attributes }, parent, fn, (span) => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  });
}
