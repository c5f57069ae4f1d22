import { createHash } from 'node:crypto';
import type { DocumentRef, QueryIndex } from '../query/attribution-index.js';
import { METHOD_VERSION, resolveParams, type AttributionParams } from './params.js';
import { PPM, toPartsPerMillion } from './ppm.js';
import { containingContributions, maximalSpans, spanWeight } from './spans.js';

export type AttributeInput = {
  readonly output: string;
  /** Contributions a retrieval-augmented inference put in the prompt. */
  readonly retrievedContributionIds?: readonly string[];
  readonly params?: Partial<AttributionParams>;
};

export type ReceiptSpan = {
  /** UTF-16 offsets of the span in the output text: [start, end). */
  readonly start: number;
  readonly end: number;
  readonly tokens: number;
  readonly count: number;
  readonly weight: number;
  /** Contributions credited for this span (the earliest alone when it is a copy). */
  readonly contributionIds: readonly string[];
};

export type AttributionReceipt = {
  readonly methodVersion: string;
  readonly indexHash: string;
  readonly shardHashes: readonly string[];
  readonly outputSha256: string;
  readonly params: AttributionParams;
  readonly outputTokens: number;
  readonly spans: readonly ReceiptSpan[];
  readonly retrievedContributionIds: readonly string[];
  /** Per contributor, sorted by address; sums to exactly 1,000,000 (empty when nothing matched). */
  readonly weights: readonly { readonly contributor: string; readonly ppm: number }[];
  /** Span credit per contribution, highest first (for ranking and explanation). */
  readonly contributions: readonly { readonly contributionId: string; readonly contributor: string; readonly credit: number }[];
};

// Span credit is split among contributions in units of 1/SPLIT so equal shares stay integers
// for up to 16 sharers (SPLIT is divisible by 1..16); larger splits floor, deterministically.
const SPLIT = 720_720;

/**
 * Attributes an output to the contributions of an index. A pure function of the output, the
 * retrieved ids, the index and the parameters: anyone holding the index gets the same receipt.
 */
export function attribute(index: QueryIndex, input: AttributeInput): AttributionReceipt {
  const params = resolveParams(input.params);
  const tok = index.tokenizer.tokenize(input.output);
  const table = index.matchWords(tok.words);
  const spans: ReceiptSpan[] = [];
  const credit = new Map<string, { ref: DocumentRef; units: number }>();
  for (const span of maximalSpans(table, params)) {
    if (span.verdict !== 'kept') continue;
    const holders = containingContributions(index, table, span.token);
    const credited = span.tokens >= params.copyMinTokens ? holders.slice(0, 1) : holders;
    const weight = spanWeight(span.tokens, span.count, index.tokens);
    const units = weight * SPLIT;
    const share = (units - (units % credited.length)) / credited.length;
    for (const ref of credited) {
      const c = credit.get(ref.contributionId) ?? { ref, units: 0 };
      c.units += share;
      credit.set(ref.contributionId, c);
    }
    spans.push({
      start: tok.starts[span.token]!,
      end: tok.ends[span.token + span.tokens - 1]!,
      tokens: span.tokens,
      count: span.count,
      weight,
      contributionIds: credited.map((r) => r.contributionId),
    });
  }
  const retrieved = [...new Set(input.retrievedContributionIds ?? [])].sort();
  const retrievedRefs = retrieved.map((id) => {
    const ref = index.contribution(id);
    if (!ref) throw new Error(`retrieved contribution ${id} is not in index ${index.indexHash}`);
    return ref;
  });
  const weights = toPartsPerMillion(contributorCredits([...credit.values()], retrievedRefs, params.retrievalSharePpm), params.maxContributorSharePpm);
  return {
    methodVersion: METHOD_VERSION,
    indexHash: index.indexHash,
    shardHashes: index.shardHashes,
    outputSha256: createHash('sha256').update(input.output, 'utf8').digest('hex'),
    params,
    outputTokens: tok.words.length,
    spans,
    retrievedContributionIds: retrieved,
    weights: [...weights].map(([contributor, ppm]) => ({ contributor, ppm })).sort((a, b) => (a.contributor < b.contributor ? -1 : 1)),
    contributions: [...credit.values()]
      .map((c) => ({ contributionId: c.ref.contributionId, contributor: c.ref.contributor, credit: c.units / SPLIT }))
      .sort((a, b) => b.credit - a.credit || (a.contributionId < b.contributionId ? -1 : 1)),
  };
}

/**
 * Combines span credit and retrieval as exact rationals over one denominator: spans get
 * (1e6 - retrievalShare) of the whole and retrieved contributions share retrievalShare equally;
 * when only one kind is present it gets everything.
 */
function contributorCredits(spanCredit: { ref: DocumentRef; units: number }[], retrieved: DocumentRef[], retrievalPpm: number): Map<string, bigint> {
  const spanTotal = spanCredit.reduce((s, c) => s + BigInt(c.units), 0n);
  const nRetrieved = BigInt(retrieved.length);
  const r = spanTotal === 0n ? BigInt(PPM) : nRetrieved === 0n ? 0n : BigInt(retrievalPpm);
  const out = new Map<string, bigint>();
  const add = (k: string, v: bigint) => out.set(k, (out.get(k) ?? 0n) + v);
  if (spanTotal > 0n) for (const c of spanCredit) add(c.ref.contributor, (BigInt(PPM) - r) * BigInt(c.units) * (nRetrieved || 1n));
  if (nRetrieved > 0n) for (const ref of retrieved) add(ref.contributor, r * (spanTotal || 1n));
  return out;
}

