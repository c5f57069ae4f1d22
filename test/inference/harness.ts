import type { Client, Metadata as MetadataT } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@opal/service-runtime';
import { startNode, type RunningNode } from '@opal/cli';
import { freePort, grpcClient } from '@opal/testkit';

export type GenerateResult = { chunks: string[]; text: string; summary: any };

/** Ingest and inference in this process (llama.cpp runs in-process), on a fresh data folder. */
export async function startInferenceNode(): Promise<{ node: RunningNode; inference: Client & Record<string, any>; ingest: Client & Record<string, any>; httpPort: number; dir: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'opal-inference-'));
  const httpPort = await freePort();
  process.env['OPAL_HTTP_PORT'] = String(httpPort);
  process.env['OPAL_INFERENCE_SLOTS'] = '2';
  const config = loadConfig({ OPAL_DATA_DIR: dir, OPAL_GRPC_PORT: String(await freePort()), OPAL_LOG_LEVEL: 'warn', OPAL_FSYNC: 'false' });
  const node = await startNode(config, ['ingest', 'inference']);
  const inference = grpcClient(node.url, 'inference');
  const ingest = grpcClient(node.url, 'ingest');
  return {
    node, inference, ingest, httpPort, dir,
    async close() {
      inference.close();
      ingest.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function auth(apiKey: string): MetadataT {
  const m = new Metadata();
  m.set('authorization', `Bearer ${apiKey}`);
  return m;
}

/** Runs a server-streaming Generate to its end; `cancelAfter` chunks cancels the call. */
export function generate(client: any, apiKey: string, request: object, opts: { cancelAfter?: number; deadlineMs?: number } = {}): Promise<GenerateResult> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = [];
    let summary: any;
    const call = client.generate(request, auth(apiKey), opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {});
    call.on('data', (r: any) => {
      if (r.summary) summary = r.summary;
      else {
        chunks.push(r.text);
        if (opts.cancelAfter !== undefined && chunks.length === opts.cancelAfter) call.cancel();
      }
    });
    call.on('error', (e: any) => (e.code === 1 && opts.cancelAfter !== undefined ? resolve({ chunks, text: chunks.join(''), summary }) : reject(e)));
    call.on('end', () => resolve({ chunks, text: chunks.join(''), summary }));
  });
}

/** The events of one inference's stream, decoded by type. */
export async function inferenceEvents(node: RunningNode, inferenceId: string): Promise<string[]> {
  return (await node.eventLog.readStream(`inference-${inferenceId}`)).map((e) => e.type);
}
