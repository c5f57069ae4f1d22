import type * as api from '@opal/contracts/opal/attribution/v1/attribution.api';
import { versionKey } from '../../domain/datanet-version.js';
import type { AttributeResult, TraceResult } from '../../application/attribution.queries.js';
import type { IndexDoc, ReceiptDoc } from '../../projections/receipts.projection.js';

export function attributeResponse({ versions, receipt: r }: AttributeResult): api.AttributeResponse {
  return {
    indexHashes: versions.map((v) => v.indexHash),
    datanetVersions: versions.map((v) => versionKey(v.ref)),
    methodVersion: r.methodVersion,
    spans: r.spans.map((s) => ({
      outputStart: s.start,
      length: s.end - s.start,
      count: String(s.count),
      contributions: [...s.contributionIds],
      tokens: s.tokens,
      weight: String(s.weight),
    })),
    weights: r.weights.map((w) => ({ contributor: w.contributor, weightPpm: w.ppm })),
    outputHash: r.outputSha256,
    outputTokens: r.outputTokens,
  };
}

export function traceResponse({ versions, spans }: TraceResult): api.TraceResponse {
  return {
    indexHashes: versions.map((v) => v.indexHash),
    spans: spans.map((s) => ({
      outputStart: s.start,
      length: s.end - s.start,
      text: s.text,
      tokens: s.tokens,
      count: String(s.count),
      verdict: s.verdict,
      documents: s.documents.map((d) => ({ contributionId: d.contributionId, contributor: d.contributor, snippet: d.snippet })),
    })),
  };
}

export function receipt(doc: ReceiptDoc): api.Receipt {
  return {
    inferenceId: doc.inferenceId,
    indexHashes: doc.indexHashes,
    methodVersion: doc.methodVersion,
    spans: doc.spans,
    weights: doc.weights,
    outputHash: doc.outputHash,
    datanetVersions: doc.datanetVersions,
  };
}

export const indexInfo = (i: IndexDoc): api.IndexInfo => ({ datanetId: i.datanetId, version: i.version, indexHash: i.indexHash, tokens: i.tokens });
