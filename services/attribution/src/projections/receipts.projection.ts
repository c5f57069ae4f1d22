import { TypedEventCodec, type Doc, type Projection } from '@opal/event-sourcing';
import { attributionEventTypes, type AttributionEvent } from '../domain/attribution.events.js';

export const attributionCodec = new TypedEventCodec<AttributionEvent>('opal.attribution.v1', attributionEventTypes);

export type ReceiptDoc = {
  inferenceId: string;
  indexHashes: string[];
  methodVersion: string;
  spans: { outputStart: number; length: number; count: string; contributions: string[] }[];
  weights: { contributor: string; weightPpm: number }[];
  outputHash: string;
};

export type IndexDoc = { datanetId: string; version: number; indexHash: string; tokens: string; shards: number; tokenizer: string };

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
  evolve(_ref, _doc, e): Doc {
    if (e.type === 'AttributionComputed') {
      const d = e.data;
      return {
        inferenceId: d.inferenceId,
        indexHashes: [...d.indexHashes],
        methodVersion: d.methodVersion,
        spans: d.spans.map((s) => ({ outputStart: s.outputStart, length: s.length, count: s.count.toString(), contributions: [...s.contributions] })),
        weights: d.weights.map((w) => ({ contributor: w.contributor, weightPpm: w.weightPpm })),
        outputHash: d.outputHash,
      } satisfies ReceiptDoc;
    }
    const d = e.data;
    return { datanetId: d.datanetId, version: d.version, indexHash: d.indexHash, tokens: d.tokens.toString(), shards: d.shards, tokenizer: d.tokenizer } satisfies IndexDoc;
  },
};
