import { createHash } from 'node:crypto';
import { attribute, CombinedIndex, METHOD_VERSION, wordTokenizer, type AttributionIndex, type AttributionParams } from '@opal/attribution-index';
import type { AttributionComputedData } from './attribution.events.js';
import { toReceiptParams } from './attribution-params.js';
import { versionKey, type DatanetVersionRef } from './datanet-version.js';
import { receiptData } from './receipt.decider.js';

export type OpenedIndex = { readonly ref: DatanetVersionRef; readonly indexHash: string; readonly index: AttributionIndex };

export type InferenceOutput = { readonly inferenceId: string; readonly outputText: string; readonly retrievedContributions: readonly string[] };

/**
 * The receipt of one output against the indexes of its Datanet versions, queried as one. A pure
 * function of the output, the index files and the parameters: the service and `opal attribution
 * verify` both call it. Retrieved contributions that none of the indexes hold are not credited
 * (they cannot be named by contributor); with no index at all the receipt credits nobody.
 */
export function computeReceipt(output: InferenceOutput, indexes: readonly OpenedIndex[], params: AttributionParams): AttributionComputedData {
  if (indexes.length === 0) {
    return {
      inferenceId: output.inferenceId,
      indexHashes: [],
      methodVersion: METHOD_VERSION,
      spans: [],
      weights: [],
      outputHash: createHash('sha256').update(output.outputText, 'utf8').digest('hex'),
      datanetVersions: [],
      retrievedContributions: [],
      params: toReceiptParams(params),
      outputTokens: wordTokenizer.tokenize(output.outputText).words.length,
      combinedIndexHash: '',
    };
  }
  const combined = new CombinedIndex(indexes.map((i) => i.index));
  const retrieved = output.retrievedContributions.filter((id) => combined.contribution(id) !== undefined);
  const r = attribute(combined, { output: output.outputText, retrievedContributionIds: retrieved, params });
  return receiptData(
    { inferenceId: output.inferenceId, datanetVersions: indexes.map((i) => versionKey(i.ref)), indexHashes: indexes.map((i) => i.indexHash) },
    r,
  );
}
