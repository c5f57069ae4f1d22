import { attribute } from '../attribute/attribute.js';
import type { AttributionParams } from '../attribute/params.js';
import type { AttributionIndex } from '../query/attribution-index.js';
import type { PlantedQuery } from './planted-corpus.js';

export type EvaluationResult = {
  readonly precisionAt10: number;
  readonly recallAt10: number;
  /** Credit (of span credit) that went to later copies, averaged over outputs. */
  readonly copyCreditShare: number;
  /** Credit that went to spans overlapping the boilerplate sentence, averaged over outputs. */
  readonly boilerplateCreditShare: number;
  readonly queries: number;
};

/**
 * Precision@10: of the (up to 10) top-credited contributions, the share that are planted sources;
 * recall@10: of the planted sources, the share found in the top 10. Both averaged over outputs.
 */
export function evaluate(index: AttributionIndex, queries: readonly PlantedQuery[], params?: Partial<AttributionParams>): EvaluationResult {
  let p = 0;
  let r = 0;
  let copy = 0;
  let boiler = 0;
  for (const q of queries) {
    const receipt = attribute(index, { output: q.output, ...(params ? { params } : {}) });
    const top = receipt.contributions.slice(0, 10).map((c) => c.contributionId);
    const sources = new Set(q.sources);
    const hits = top.filter((id) => sources.has(id)).length;
    p += top.length === 0 ? 0 : hits / top.length;
    r += hits / sources.size;
    const total = receipt.contributions.reduce((s, c) => s + c.credit, 0);
    const copies = new Set(q.copies);
    const copyCredit = receipt.contributions.filter((c) => copies.has(c.contributionId)).reduce((s, c) => s + c.credit, 0);
    copy += total === 0 ? 0 : copyCredit / total;
    const bStart = q.output.indexOf(q.boilerplate);
    const bEnd = bStart + q.boilerplate.length;
    const bWeight = receipt.spans.filter((s) => s.start >= bStart && s.end <= bEnd).reduce((s, x) => s + x.weight, 0);
    const allWeight = receipt.spans.reduce((s, x) => s + x.weight, 0);
    boiler += allWeight === 0 ? 0 : bWeight / allWeight;
  }
  const n = Math.max(1, queries.length);
  return { precisionAt10: p / n, recallAt10: r / n, copyCreditShare: copy / n, boilerplateCreditShare: boiler / n, queries: queries.length };
}
