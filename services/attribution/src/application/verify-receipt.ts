import type { Cursor, EventLog } from '@opal/event-log';
import { receiptStream, type AttributionComputedData } from '../domain/attribution.events.js';
import { computeReceipt, type OpenedIndex } from '../domain/compute-receipt.js';
import { versionKey } from '../domain/datanet-version.js';
import { receiptDifferences } from '../domain/receipt.decider.js';
import type { InferenceCompleted } from '../domain/upstream.events.js';
import { attributionCodec, inferenceCompletedCodec } from './attribution.codecs.js';
import type { IndexFiles } from './attribution.ports.js';
import { paramsInForce } from './params-in-force.js';
import { inferenceVersions } from './receipt-writer.reactor.js';

export type VerifyReceiptResult =
  | { readonly status: 'not-found'; readonly detail: string }
  | { readonly status: 'match' | 'mismatch'; readonly differences: readonly string[]; readonly logged: AttributionComputedData; readonly recomputed: AttributionComputedData };

/**
 * Recomputes an inference's receipt from the logged InferenceCompleted and the index files, and
 * compares it with the logged AttributionComputed field by field. The indexes used are the
 * inference's versions (latest per Datanet) that have an AttributionIndexBuilt in the log; each is
 * opened only if its files hash to the logged index hash.
 */
export async function verifyReceipt(log: Pick<EventLog, 'read'>, files: IndexFiles, inferenceId: string): Promise<VerifyReceiptResult> {
  const stream = receiptStream(inferenceId);
  let inference: InferenceCompleted['data'] | undefined;
  let logged: AttributionComputedData | undefined;
  const built = new Map<string, string>();
  let cursor: Cursor | undefined;
  for (;;) {
    const { events, next } = await log.read(cursor, 5000);
    if (events.length === 0) break;
    cursor = next;
    for (const stored of events) {
      if (stored.type === 'opal.attribution.v1.AttributionIndexBuilt') {
        const e = attributionCodec.decode(stored);
        if (e?.type === 'AttributionIndexBuilt') {
          const key = versionKey(e.data);
          if (!built.has(key)) built.set(key, e.data.indexHash);
        }
      } else if (stored.streamId === stream && !logged) {
        const e = attributionCodec.decode(stored);
        if (e?.type === 'AttributionComputed') logged = e.data;
      } else if (!inference && inferenceCompletedCodec.handles(stored.type)) {
        const e = inferenceCompletedCodec.decode(stored);
        if (e?.data.inferenceId === inferenceId) inference = e.data;
      }
    }
  }
  if (!inference) return { status: 'not-found', detail: `no InferenceCompleted for inference ${inferenceId} in the log` };
  if (!logged) return { status: 'not-found', detail: `no AttributionComputed for inference ${inferenceId} in the log (stream ${stream})` };
  const indexes: OpenedIndex[] = [];
  for (const ref of inferenceVersions(inference.datanetVersions)) {
    const hash = built.get(versionKey(ref));
    if (hash) indexes.push({ ref, indexHash: hash, index: files.open(ref, hash) });
  }
  const recomputed = computeReceipt(inference, indexes, paramsInForce());
  const differences = receiptDifferences(logged, recomputed);
  return { status: differences.length === 0 ? 'match' : 'mismatch', differences, logged, recomputed };
}
