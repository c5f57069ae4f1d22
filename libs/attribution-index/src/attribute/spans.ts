import type { DocumentRef, MatchTable, QueryIndex } from '../query/attribution-index.js';
import type { AttributionParams } from './params.js';

export type SpanVerdict = 'kept' | 'too-short' | 'too-common';

/** A maximal matching span of the output: not contained in the match of the position before. */
export type MatchedSpan = {
  /** First output token of the span and its length in tokens. */
  readonly token: number;
  readonly tokens: number;
  /** Occurrences in the whole index (all shards). */
  readonly count: number;
  readonly verdict: SpanVerdict;
};

/**
 * Maximal spans from the longest-match table. Match ends never move backwards (the match at i+1 is
 * at least the one at i minus its first token), so a span is maximal exactly when it ends later
 * than the span before it. Tokens are words, so every span starts and ends on a word boundary.
 */
export function maximalSpans(table: MatchTable, params: AttributionParams): MatchedSpan[] {
  const spans: MatchedSpan[] = [];
  let lastEnd = 0;
  for (let i = 0; i < table.length.length; i++) {
    const len = table.length[i]!;
    if (len === 0 || i + len <= lastEnd) continue;
    lastEnd = i + len;
    const count = table.count[i]!;
    const verdict: SpanVerdict = len < params.minSpanTokens ? 'too-short' : count > params.maxSpanCount ? 'too-common' : 'kept';
    spans.push({ token: i, tokens: len, count, verdict });
  }
  return spans;
}

/** Distinct contributions holding the span at output token i, earliest (order key, then id) first. */
export function containingContributions(index: QueryIndex, table: MatchTable, i: number): DocumentRef[] {
  const seen = new Map<string, DocumentRef>();
  for (const o of index.occurrences(table, i)) {
    const ref = index.document(o.shard, o.doc);
    if (!seen.has(ref.contributionId)) seen.set(ref.contributionId, ref);
  }
  return [...seen.values()].sort((a, b) => a.orderKey - b.orderKey || (a.contributionId < b.contributionId ? -1 : a.contributionId > b.contributionId ? 1 : 0));
}

/**
 * Credit of a span in integer units: length times an inverse-frequency factor, 1 + floor(log2(N /
 * count)) for N indexed tokens. Integer only, so every machine computes the same value.
 */
export function spanWeight(tokens: number, count: number, indexTokens: number): number {
  let ratio = Math.floor(Math.max(1, indexTokens) / Math.max(1, count));
  let log2 = 0;
  while (ratio > 1) {
    ratio = Math.floor(ratio / 2);
    log2++;
  }
  return tokens * (1 + log2);
}
