/**
 * @opal/attribution-index: exact-span attribution of model outputs to Datanet contributions.
 *
 *   buildIndex(documents, { dir, shardTokens?, workers?, onProgress? }) -> Promise<IndexManifest>
 *   AttributionIndex.open(dir, { verify? })                             -> AttributionIndex
 *   attribute(index, { output, retrievedContributionIds?, params? })    -> AttributionReceipt
 *   trace(index, output, { params?, maxDocuments?, contextTokens? })    -> TracedSpan[]
 *   new CombinedIndex([a, b])                                           -> several indexes queried as one
 *
 * attribute is a pure function of the output, the index and the parameters, so verifying a
 * receipt is calling it again and comparing.
 */
export { buildIndex, type BuildOptions, type BuildProgress, type IndexDocument } from './build/build-index.js';
export { AttributionIndex, type OpenOptions, type DocumentRef, type QueryIndex, type MatchTable } from './query/attribution-index.js';
export { CombinedIndex, combinedIndexHash } from './query/combined-index.js';
export { attribute, type AttributeInput, type AttributionReceipt, type ReceiptSpan } from './attribute/attribute.js';
export { trace, type TracedSpan } from './attribute/trace.js';
export { DEFAULT_ATTRIBUTION_PARAMS, METHOD_VERSION, type AttributionParams } from './attribute/params.js';
export { toPartsPerMillion } from './attribute/ppm.js';
export type { IndexManifest } from './format/manifest.js';
export type { Tokenizer, TokenizedText } from './tokenizer/tokenizer.js';
export { wordTokenizer } from './tokenizer/word-tokenizer.js';
export { Vocabulary, UNKNOWN_TOKEN } from './tokenizer/vocabulary.js';
export { buildSuffixArray } from './suffix-array/sais.js';
export { longestMatchInShard } from './query/shard-search.js';
