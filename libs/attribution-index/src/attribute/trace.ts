import type { QueryIndex } from '../query/attribution-index.js';
import { resolveParams, type AttributionParams } from './params.js';
import { containingContributions, maximalSpans, type SpanVerdict } from './spans.js';

export type TracedSpan = {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly tokens: number;
  readonly count: number;
  readonly verdict: SpanVerdict;
  /** Up to `maxDocuments` documents holding the span, earliest first, with the words around it. */
  readonly documents: readonly { readonly contributionId: string; readonly contributor: string; readonly orderKey: number; readonly snippet: string }[];
};

/** Every maximal span of an output with its verdict and document snippets, to explain it to a person. */
export function trace(index: QueryIndex, output: string, options: { params?: Partial<AttributionParams>; maxDocuments?: number; contextTokens?: number } = {}): TracedSpan[] {
  const params = resolveParams(options.params);
  const maxDocs = options.maxDocuments ?? 5;
  const context = options.contextTokens ?? 8;
  const tok = index.tokenizer.tokenize(output);
  const table = index.matchWords(tok.words);
  return maximalSpans(table, params).map((span) => {
    const start = tok.starts[span.token]!;
    const end = tok.ends[span.token + span.tokens - 1]!;
    const occurrences = span.count <= params.maxSpanCount ? index.occurrences(table, span.token) : [];
    const holders = span.count <= params.maxSpanCount ? containingContributions(index, table, span.token).slice(0, maxDocs) : [];
    const documents = holders.map((ref) => {
      const o = occurrences.find((x) => index.document(x.shard, x.doc).contributionId === ref.contributionId)!;
      return { ...ref, snippet: index.snippet(o.shard, o.pos, span.tokens, context) };
    });
    return { start, end, text: output.slice(start, end), tokens: span.tokens, count: span.count, verdict: span.verdict, documents };
  });
}
