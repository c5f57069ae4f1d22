import { DEFAULT_ATTRIBUTION_PARAMS, type AttributionParams } from '@opal/attribution-index';
import type { ReceiptParams } from './attribution.events.js';

/** Governance parameter names (services/governance) and the library thresholds they set. */
export const governedAttributionParams = {
  'attribution.min_span_tokens': 'minSpanTokens',
  'attribution.max_span_count': 'maxSpanCount',
  'attribution.contributor_cap_ppm': 'maxContributorSharePpm',
  'attribution.retrieval_share_ppm': 'retrievalSharePpm',
} as const satisfies Record<string, keyof AttributionParams>;

/**
 * The thresholds in force, from governed parameter values (decimal strings by name). A threshold
 * governance does not name (copyMinTokens) keeps the library default.
 */
export function attributionParamsFrom(values: ReadonlyMap<string, string>): AttributionParams {
  const out: Record<keyof AttributionParams, number> = { ...DEFAULT_ATTRIBUTION_PARAMS };
  for (const [name, key] of Object.entries(governedAttributionParams)) {
    const v = values.get(name);
    if (v === undefined) continue;
    if (!/^[0-9]{1,10}$/.test(v)) throw new Error(`${name}: ${JSON.stringify(v)} is not a non-negative integer`);
    out[key] = Number(v);
  }
  return out;
}

export const toReceiptParams = (p: AttributionParams): ReceiptParams => ({
  minSpanTokens: p.minSpanTokens,
  maxSpanCount: p.maxSpanCount,
  copyMinTokens: p.copyMinTokens,
  maxContributorSharePpm: p.maxContributorSharePpm,
  retrievalSharePpm: p.retrievalSharePpm,
});
