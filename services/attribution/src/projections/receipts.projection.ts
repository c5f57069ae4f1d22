import type { Doc, Projection } from '@opal/event-sourcing';
import type { AttributionEvent } from '../domain/attribution.events.js';
import { attributionCodec } from '../application/attribution.codecs.js';

export { attributionCodec };

export type ReceiptDoc = {
  inferenceId: string;
  indexHashes: string[];
  methodVersion: string;
  spans: { outputStart: number; length: number; count: string; contributions: string[]; tokens: number; weight: string }[];
  weights: { contributor: string; weightPpm: number }[];
  outputHash: string;
  datanetVersions: string[];
};

export type IndexDoc = { datanetId: string; version: number; indexHash: string; tokens: string; shards: number; tokenizer: string; documents: number };

/** Attribution receipts by inference, and the indexes built per Datanet version. */
export const receiptsProjection: Projection<AttributionEvent> = {
  name: 'attribution.receipts',
  codec: attributionCodec,
  collections: [
    { name: 'attribution_receipts', indexes: [] },
    { name: 'attribution_indexes', indexes: ['datanetId'] },
  ],
  route: (e) =>
    e.type === 'AttributionComputed'
      ? [{ collection: 'attribution_receipts', id: e.data.inferenceId }]
      : [{ collection: 'attribution_indexes', id: `${e.data.datanetId}@${e.data.version}` }],
  evolve(_ref, doc, e): Doc | undefined {
    if (doc) return doc; // the first event of a stream stands (the writers append at most one)
    if (e.type === 'AttributionComputed') {
      const d = e.data;
      return {
        inferenceId: d.inferenceId,
        indexHashes: [...d.indexHashes],
        methodVersion: d.methodVersion,
        spans: d.spans.map((s) => ({
          outputStart: s.outputStart,
          length: s.length,
          count: s.count.toString(),
          contributions: [...s.contributions],
          tokens: s.tokens,
          weight: s.weight.toString(),
        })),
        weights: d.weights.map((w) => ({ contributor: w.contributor, weightPpm: w.weightPpm })),
        outputHash: d.outputHash,
        datanetVersions: [...d.datanetVersions],
      } satisfies ReceiptDoc;
    }
    const d = e.data;
    return {
      datanetId: d.datanetId,
      version: d.version,
      indexHash: d.indexHash,
      tokens: d.tokens.toString(),
      shards: d.shards,
      tokenizer: d.tokenizer,
      documents: d.documents,
    } satisfies IndexDoc;
  },
};
