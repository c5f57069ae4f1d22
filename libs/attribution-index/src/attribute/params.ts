/** Version of the span-matching and credit rules; a receipt is recomputed with the same version. */
export const METHOD_VERSION = 'opal-spans/1';

/** Thresholds of attribution. They are governed parameters: receipts carry the values used. */
export type AttributionParams = {
  /** Spans shorter than this many tokens earn nothing (chance matches). */
  readonly minSpanTokens: number;
  /** Spans occurring more often than this in the index earn nothing (boilerplate, common phrases). */
  readonly maxSpanCount: number;
  /** A span this long found in several contributions is a copy: only the earliest is credited. */
  readonly copyMinTokens: number;
  /** Most any one contributor can get, in ppm (relaxed only when too few contributors to fill 1,000,000). */
  readonly maxContributorSharePpm: number;
  /** Share of the output's credit that goes to retrieved contributions when there are both. */
  readonly retrievalSharePpm: number;
};

export const DEFAULT_ATTRIBUTION_PARAMS: AttributionParams = {
  minSpanTokens: 5,
  maxSpanCount: 20,
  copyMinTokens: 8,
  maxContributorSharePpm: 500_000,
  retrievalSharePpm: 200_000,
};

export function resolveParams(p: Partial<AttributionParams> = {}): AttributionParams {
  const r = { ...DEFAULT_ATTRIBUTION_PARAMS, ...p };
  for (const [k, v] of Object.entries(r)) if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${k} must be a non-negative integer`);
  if (r.minSpanTokens < 1 || r.maxSpanCount < 1) throw new RangeError('minSpanTokens and maxSpanCount are at least 1');
  if (r.maxContributorSharePpm < 1 || r.maxContributorSharePpm > 1_000_000 || r.retrievalSharePpm > 1_000_000) throw new RangeError('ppm parameters lie in 1..1,000,000');
  return r;
}
