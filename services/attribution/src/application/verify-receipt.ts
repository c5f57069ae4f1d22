import type { Cursor, EventLog } from '@opal/event-log';
import { receiptStream, type AttributionComputedData } from '../domain/attribution.events.js';
import { computeReceipt, type OpenedIndex } from '../domain/compute-receipt.js';
import { versionKey, type DatanetVersionRef } from '../domain/datanet-version.js';
import { receiptDifferences } from '../domain/receipt.decider.js';
import { manifestOf, type InferenceCompleted, type ManifestEntry } from '../domain/upstream.events.js';
import { attributionCodec, inferenceCompletedCodec, versionPublishedCodec } from './attribution.codecs.js';
import type { ContributionContent, IndexFiles } from './attribution.ports.js';
import { buildWorkers, manifestDocuments } from './manifest-documents.js';
import { paramsInForce } from './params-in-force.js';
import { inferenceVersions } from './receipt-writer.reactor.js';

export type VerifyReceiptResult =
  | { readonly status: 'not-found'; readonly detail: string }
  | { readonly status: 'match' | 'mismatch'; readonly differences: readonly string[]; readonly logged: AttributionComputedData; readonly recomputed: AttributionComputedData };

/**
 * Recomputes an inference's receipt from the logged InferenceCompleted and the index files, and
 * compares it with the logged AttributionComputed field by field. The indexes used are the
 * inference's versions (latest per Datanet) that have an AttributionIndexBuilt in the log; each is
 * opened only if its files hash to the logged index hash. An index this machine lacks (an auditor's
 * machine, or another replica's) is built here first from the version's manifest in the log and
 * `content`, when given.
 */
export async function verifyReceipt(log: Pick<EventLog, 'read'>, files: IndexFiles, inferenceId: string, content?: ContributionContent): Promise<VerifyReceiptResult> {
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
  const lacking = inferenceVersions(inference.datanetVersions).filter((ref) => built.has(versionKey(ref)) && !files.has(ref));
  if (lacking.length > 0) {
    const keys = lacking.map(versionKey).join(', ');
    if (!content) throw new Error(`index files of ${keys} are not on this machine, and no content store was given to build them from`);
    await buildFromLog(log, files, content, lacking);
  }
  const indexes: OpenedIndex[] = [];
  for (const ref of inferenceVersions(inference.datanetVersions)) {
    const hash = built.get(versionKey(ref));
    if (hash) indexes.push({ ref, indexHash: hash, index: files.open(ref, hash) });
  }
  const recomputed = computeReceipt(inference, indexes, paramsInForce());
  const differences = receiptDifferences(logged, recomputed);
  return { status: differences.length === 0 ? 'match' : 'mismatch', differences, logged, recomputed };
}

/**
 * Builds the indexes of the versions `refs` from their DatanetVersionPublished in the log, each
 * version's manifest put together from the versions of its Datanet before it.
 */
async function buildFromLog(log: Pick<EventLog, 'read'>, files: IndexFiles, content: ContributionContent, refs: readonly DatanetVersionRef[]): Promise<void> {
  const wanted = new Set(refs.map(versionKey));
  const datanets = new Set(refs.map((r) => r.datanetId));
  const manifests = new Map<string, ManifestEntry[]>();
  let cursor: Cursor | undefined;
  while (wanted.size > 0) {
    const { events, next } = await log.read(cursor, 5000);
    if (events.length === 0) break;
    cursor = next;
    for (const stored of events) {
      const e = versionPublishedCodec.decode(stored);
      if (!e || !datanets.has(e.data.datanetId)) continue;
      const manifest = manifestOf(manifests.get(e.data.datanetId) ?? [], e.data);
      manifests.set(e.data.datanetId, manifest);
      if (!wanted.delete(versionKey(e.data))) continue;
      const ref = { datanetId: e.data.datanetId, version: e.data.version };
      await files.build(ref, manifestDocuments(manifest, content), { workers: buildWorkers(e.data.totalBytes) });
    }
  }
  if (wanted.size > 0) throw new Error(`no DatanetVersionPublished for ${[...wanted].join(', ')} in the log`);
}
