import type { AttributionReceipt } from '@opal/attribution-index';
import { canonicalJson } from '@opal/event-sourcing';
import type { AttributionComputedData, AttributionEvent } from './attribution.events.js';
import { toReceiptParams } from './attribution-params.js';

/** An inference's receipt stream: exactly one AttributionComputed. */
export type ReceiptState = { readonly computed: boolean };

export const initialReceiptState: ReceiptState = { computed: false };

export function evolveReceipt(state: ReceiptState, event: AttributionEvent): ReceiptState {
  switch (event.type) {
    case 'AttributionComputed':
      return { computed: true };
    case 'AttributionIndexBuilt':
      return state;
    default: {
      const never: never = event;
      return never;
    }
  }
}

/** The first receipt stands; a redelivered InferenceCompleted decides nothing. */
export function decideReceipt(state: ReceiptState, receipt: AttributionComputedData): AttributionEvent[] {
  return state.computed ? [] : [{ type: 'AttributionComputed', data: receipt }];
}

export type ReceiptSubject = {
  readonly inferenceId: string;
  /** Resolved versions ("<id>@<v>") and their index hashes, in the same order. */
  readonly datanetVersions: readonly string[];
  readonly indexHashes: readonly string[];
};

/** The event form of a library receipt. */
export function receiptData(subject: ReceiptSubject, r: AttributionReceipt): AttributionComputedData {
  return {
    inferenceId: subject.inferenceId,
    indexHashes: [...subject.indexHashes],
    methodVersion: r.methodVersion,
    spans: r.spans.map((s) => ({
      outputStart: s.start,
      length: s.end - s.start,
      count: BigInt(s.count),
      contributions: [...s.contributionIds],
      tokens: s.tokens,
      weight: BigInt(s.weight),
    })),
    weights: r.weights.map((w) => ({ contributor: w.contributor, weightPpm: w.ppm })),
    outputHash: r.outputSha256,
    datanetVersions: [...subject.datanetVersions],
    retrievedContributions: [...r.retrievedContributionIds],
    params: toReceiptParams(r.params),
    outputTokens: r.outputTokens,
    combinedIndexHash: r.indexHash,
  };
}

/** Top-level fields where two receipts differ (empty when they are the same, bit for bit). */
export function receiptDifferences(logged: AttributionComputedData, recomputed: AttributionComputedData): string[] {
  const keys = new Set([...Object.keys(logged), ...Object.keys(recomputed)]) as Set<keyof AttributionComputedData>;
  return [...keys].filter((k) => canonicalJson(logged[k]) !== canonicalJson(recomputed[k])).sort();
}

export const weightSum = (r: Pick<AttributionComputedData, 'weights'>) => r.weights.reduce((s, w) => s + w.weightPpm, 0);
