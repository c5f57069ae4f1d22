import type { DoneChunk, GenerateChunk } from '../inference-engine.port.js';

export type Collected = { readonly text: string; readonly chunks: number; readonly streamedTokens: number; readonly done: DoneChunk };

/** Drains a generation stream into its text, the token count streamed and the final chunk. */
export async function collect(stream: AsyncIterable<GenerateChunk>): Promise<Collected> {
  let text = '';
  let chunks = 0;
  let streamedTokens = 0;
  for await (const c of stream) {
    if (c.type === 'done') return { text, chunks, streamedTokens, done: c };
    text += c.text;
    chunks++;
    streamedTokens += c.tokenCount;
  }
  throw new Error('stream ended without a done chunk');
}
