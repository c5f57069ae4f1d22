import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { GenerateHandler, GenerateSummary } from '../../application/generate.handler.js';
import type { ModelCatalog } from '../../application/model-catalog.js';
import type { TenantLedger } from '../../application/tenant-ledger.js';
import { CONSISTENCY_METADATA, LATEST, withHttpServerSpan, type TlsFiles } from '@opal/service-runtime';
import { errorBody, HttpError } from './openai-errors.js';
import { chunk, completion, modelList, parseRequest, usageChunk, type Flavor } from './openai.mapping.js';

export type OpenAiHttpDeps = {
  readonly generation: GenerateHandler;
  readonly catalog: ModelCatalog;
  readonly ledger: TenantLedger;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly logger: Logger;
  /**
   * Whether the inference read models have caught up with the log as it is now, within their wait
   * (ProjectionHost.caughtUpWithin): a request with `Opal-Consistency: latest` waits for it, as a
   * gRPC call with that metadata does (ReadConsistencyGate).
   */
  readonly readModelsCaughtUp: () => Promise<boolean>;
};

const MAX_BODY = 1 << 20;

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) reject(new HttpError(413, 'invalid_request_error', 'body_too_large', 'request body over 1 MiB'));
      else parts.push(d);
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(parts).toString('utf8'));
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'invalid_request_error', 'invalid_json', 'the body is not a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

const bearer = (req: IncomingMessage) => /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The OpenAI-compatible API (`/v1/models`, `/v1/chat/completions`, `/v1/completions`, streaming as
 * server-sent events) and Prometheus `/metrics`, on plain node:http. Every route but /metrics
 * takes the tenant's API key as a bearer token.
 */
export class OpenAiHttpServer {
  private server: Server | undefined;
  private stopWatching: (() => void) | undefined;

  constructor(private readonly deps: OpenAiHttpDeps) {}

  /** Listens on host:port, over HTTPS with `tls`: its certificate as the files hold it when each connection begins. */
  async listen(host: string, port: number, tls?: TlsFiles): Promise<number> {
    const handle = (req: IncomingMessage, res: ServerResponse) => void withHttpServerSpan(req, res, spanName(req), () => this.route(req, res));
    let server: Server;
    if (tls) {
      const https = createHttpsServer({ cert: tls.current.cert, key: tls.current.key }, handle);
      this.stopWatching = tls.onChange((pem) => https.setSecureContext({ cert: pem.cert, key: pem.key }));
      server = https;
    } else server = createServer(handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  /**
   * Takes no new connection, closes the idle ones, and lets the requests running finish (a streamed
   * completion, say) for at most `graceMs`; then cuts the connections left. Resolves with whether
   * every request finished by itself.
   */
  async close(graceMs = 0): Promise<boolean> {
    this.stopWatching?.();
    const s = this.server;
    this.server = undefined;
    if (!s) return true;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
    clearTimeout(timer);
    if (!finished) {
      s.closeAllConnections();
      await closed;
    }
    return finished;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method === 'GET' && path === '/metrics') {
        const m = await this.deps.metrics();
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(m.body);
        return;
      }
      await this.consistent(req);
      if (req.method === 'GET' && path === '/v1/models') {
        await this.deps.ledger.authenticate(bearer(req));
        send(res, 200, modelList(await this.deps.catalog.list('')));
        return;
      }
      if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/completions')) {
        await this.generate(path === '/v1/chat/completions' ? 'chat' : 'completion', req, res);
        return;
      }
      throw new HttpError(404, 'invalid_request_error', 'unknown_url', `no route ${req.method} ${path}`);
    } catch (e) {
      const { status, body } = errorBody(e);
      // An internal error answers "see the service log": it is there, whole, with the request.
      if (status >= 500 && status !== 503) this.deps.logger.error({ err: e, method: req.method, path }, 'http request failed with an internal error');
      else if (!(e instanceof HttpError)) this.deps.logger.debug({ err: e }, 'http request refused');
      if (res.headersSent) {
        // Already streaming: the error goes in the stream, as OpenAI's servers do.
        res.end(`data: ${JSON.stringify(body)}\n\n`);
      } else send(res, status, body);
    }
  }

  /**
   * Read-your-writes on request, as on the gRPC port: with `Opal-Consistency: latest` the request
   * is handled only once this process's inference read models have applied the log up to where it
   * ended when the request came (a model registered on another replica is listed), and answered
   * 503 rather than stale if they do not catch up in time. Other values are refused, naming the header.
   */
  private async consistent(req: IncomingMessage): Promise<void> {
    const asked = req.headers[CONSISTENCY_METADATA];
    if (asked === undefined) return;
    if (asked !== LATEST) throw new HttpError(400, 'invalid_request_error', 'invalid_value', `${CONSISTENCY_METADATA}: must be '${LATEST}' (got ${JSON.stringify(String(asked))})`);
    if (!(await this.deps.readModelsCaughtUp())) {
      throw new HttpError(503, 'server_error', 'service_unavailable', `${CONSISTENCY_METADATA}: the inference read models were not seen caught up with the log; try again`);
    }
  }

  private async generate(flavor: Flavor, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = parseRequest(flavor, await readJson(req));
    const abort = new AbortController();
    // The client went away before the end: stop generating (the outcome is still recorded).
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const stream = await this.deps.generation.start({ ...parsed.input, apiKey: bearer(req), signal: abort.signal });
    const id = `${flavor === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const model = parsed.input.model;
    let text = '';
    let summary: GenerateSummary | null = null;
    let first = true;
    if (parsed.stream) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const sse = (o: object) => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(o)}\n\n`);
    };
    for await (const o of stream) {
      if (o.type === 'summary') {
        summary = o.summary;
        continue;
      }
      text += o.text;
      if (parsed.stream) sse(chunk(flavor, id, model, created, o.text, null, first));
      first = false;
    }
    if (!summary) throw new Error('generation ended without a summary');
    if (!parsed.stream) {
      send(res, 200, completion(flavor, id, model, created, text, summary));
      return;
    }
    sse(chunk(flavor, id, model, created, null, summary, first));
    if (parsed.includeUsage) sse(usageChunk(flavor, id, model, created, summary));
    if (!res.destroyed) res.end('data: [DONE]\n\n');
  }
}

const ROUTES = new Set(['/metrics', '/v1/models', '/v1/chat/completions', '/v1/completions']);

/** A span's name: method and route, never an unknown path (their number is unbounded). */
function spanName(req: IncomingMessage): string {
  const path = (req.url ?? '/').split('?')[0]!;
  return ROUTES.has(path) ? `${req.method} ${path}` : `${req.method}`;
}
