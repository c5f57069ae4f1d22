import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

const WORDS = ['the', 'data', 'model', 'fee', 'proof', 'chain', 'block', 'reward', 'open', 'ledger', 'token', 'base', 'world', 'hello'];

export type FakeOpenAiServer = {
  readonly url: string;
  /** Streams being written right now (a cancelled client must bring this back down). */
  readonly activeStreams: () => number;
  readonly loadedAdapters: () => string[];
  readonly requests: () => number;
  close(): Promise<void>;
};

/**
 * A small server on 127.0.0.1 that speaks the slice of the vLLM OpenAI protocol the remote engine
 * uses: GET /v1/models, POST /v1/load_lora_adapter and /v1/unload_lora_adapter, and streaming
 * POST /v1/completions. Output is a deterministic function of (model, prompt, seed), so each adapter
 * "writes" differently and a request can be compared with itself run alone.
 */
export async function startFakeOpenAiServer(opts: { baseModel: string; tokenDelayMs?: number }): Promise<FakeOpenAiServer> {
  const adapters = new Map<string, string>();
  let active = 0;
  let requests = 0;

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, message: string, type: string) =>
    json(res, status, { error: { message, type, param: null, code: status } });
  const readBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    let s = '';
    for await (const c of req) s += c;
    return s ? (JSON.parse(s) as Record<string, unknown>) : {};
  };

  const server: Server = createServer(async (req, res) => {
    requests++;
    try {
      if (req.method === 'GET' && req.url === '/v1/models') {
        const data = [{ id: opts.baseModel, object: 'model', parent: null }, ...[...adapters.keys()].map((id) => ({ id, object: 'model', parent: opts.baseModel }))];
        return json(res, 200, { object: 'list', data });
      }
      if (req.method === 'POST' && req.url === '/v1/load_lora_adapter') {
        const b = await readBody(req);
        if (typeof b.lora_name !== 'string' || typeof b.lora_path !== 'string') return error(res, 400, 'lora_name and lora_path are required', 'BadRequestError');
        if (adapters.has(b.lora_name)) return error(res, 400, `The lora adapter '${b.lora_name}' has already been loaded.`, 'InvalidUserInput');
        adapters.set(b.lora_name, b.lora_path);
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(`Success: LoRA adapter '${b.lora_name}' added successfully.`);
      }
      if (req.method === 'POST' && req.url === '/v1/unload_lora_adapter') {
        const b = await readBody(req);
        if (!adapters.delete(String(b.lora_name))) return error(res, 404, `The lora adapter '${String(b.lora_name)}' cannot be found.`, 'NotFoundError');
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('Success');
      }
      if (req.method === 'POST' && req.url === '/v1/completions') {
        const b = await readBody(req);
        const model = String(b.model);
        if (model !== opts.baseModel && !adapters.has(model)) return error(res, 404, `The model \`${model}\` does not exist.`, 'NotFoundError');
        const prompt = String(b.prompt ?? '');
        const maxTokens = Number(b.max_tokens ?? 16);
        const stops = (Array.isArray(b.stop) ? b.stop : b.stop ? [b.stop] : []) as string[];
        const seed = b.temperature && Number(b.temperature) > 0 ? String(b.seed ?? Date.now()) : 'greedy';
        let h = createHash('sha256').update(`${model}\0${prompt}\0${seed}`).digest();
        const id = `cmpl-${h.toString('hex').slice(0, 12)}`;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        active++;
        let closed = false;
        res.on('close', () => {
          if (!closed) active--;
          closed = true;
        });
        const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
        let text = '';
        let n = 0;
        let finish: 'length' | 'stop' = 'length';
        for (; n < maxTokens && !closed; ) {
          h = createHash('sha256').update(h).digest();
          const piece = ` ${WORDS[h[0]! % WORDS.length]}`;
          n++;
          const stopAt = stops.map((s) => (text + piece).indexOf(s)).filter((i) => i >= 0).sort((a, b2) => a - b2)[0];
          if (stopAt !== undefined) {
            const visible = (text + piece).slice(0, stopAt).slice(text.length);
            if (visible) send({ id, object: 'text_completion', model, choices: [{ index: 0, text: visible, finish_reason: null }] });
            finish = 'stop';
            break;
          }
          text += piece;
          send({ id, object: 'text_completion', model, choices: [{ index: 0, text: piece, finish_reason: null }] });
          if (opts.tokenDelayMs) await new Promise((r) => setTimeout(r, opts.tokenDelayMs));
        }
        if (closed) return;
        send({ id, object: 'text_completion', model, choices: [{ index: 0, text: '', finish_reason: finish }] });
        const promptTokens = prompt.split(/\s+/).filter(Boolean).length + 1;
        const opt = b.stream_options as { include_usage?: boolean } | undefined;
        if (opt?.include_usage) send({ id, object: 'text_completion', model, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n } });
        res.write('data: [DONE]\n\n');
        closed = true;
        active--;
        return res.end();
      }
      error(res, 404, `no route ${req.method} ${req.url}`, 'NotFoundError');
    } catch (e) {
      if (!res.headersSent) error(res, 500, (e as Error).message, 'InternalServerError');
      else res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    activeStreams: () => active,
    loadedAdapters: () => [...adapters.keys()],
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
