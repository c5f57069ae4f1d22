import { Inject, Injectable } from '@nestjs/common';
import { attribute, CombinedIndex, trace, type AttributionReceipt, type TracedSpan } from '@opal/attribution-index';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { ProjectionHost } from '@opal/service-runtime';
import { AttributionError } from '../domain/attribution.errors.js';
import type { OpenedIndex } from '../domain/compute-receipt.js';
import { parseRequestedVersions, versionKey } from '../domain/datanet-version.js';
import type { IndexDoc, ReceiptDoc } from '../projections/receipts.projection.js';
import { inferenceStreamOf } from '../domain/upstream.events.js';
import { inferenceCompletedCodec } from './attribution.codecs.js';
import { LocalIndexes } from './local-indexes.js';
import { paramsInForce } from './params-in-force.js';

const MAX_TEXT_CHARS = 1 << 20;

export type AttributeResult = { readonly versions: readonly OpenedIndex[]; readonly receipt: AttributionReceipt };
export type TraceResult = { readonly versions: readonly OpenedIndex[]; readonly spans: readonly TracedSpan[] };

/**
 * Read side of attribution: answers from the read models and the index files; records nothing.
 * A receipt or version it does not find, it looks for again once attribution's read models have
 * caught up with the log (ProjectionHost.readCaughtUp).
 */
@Injectable()
export class AttributionQueries {
  constructor(
    @Inject(DOCUMENT_STORE) private readonly store: DocumentStore,
    private readonly local: LocalIndexes,
    @Inject(ProjectionHost) private readonly readModels: Pick<ProjectionHost, 'readCaughtUp'>,
    @Inject(EVENT_LOG) private readonly log: Pick<EventLog, 'readStream'>,
  ) {}

  async attribute(text: string, versions: readonly string[], retrieved: readonly string[]): Promise<AttributeResult> {
    checkText(text);
    const opened = await this.open(versions);
    const combined = new CombinedIndex(opened.map((o) => o.index));
    for (const id of retrieved) {
      if (!combined.contribution(id)) throw new AttributionError('CONTRIBUTION_NOT_INDEXED', `retrieved_contributions: ${id} is in none of ${opened.map((o) => versionKey(o.ref)).join(', ')}`);
    }
    return { versions: opened, receipt: attribute(combined, { output: text, retrievedContributionIds: retrieved, params: paramsInForce() }) };
  }

  async trace(text: string, versions: readonly string[], maxDocuments: number, contextTokens: number): Promise<TraceResult> {
    checkText(text);
    if (maxDocuments > 50) throw new AttributionError('INVALID_FIELD', 'max_documents: at most 50');
    if (contextTokens > 64) throw new AttributionError('INVALID_FIELD', 'context_tokens: at most 64');
    const opened = await this.open(versions);
    const spans = trace(new CombinedIndex(opened.map((o) => o.index)), text, {
      params: paramsInForce(),
      maxDocuments: maxDocuments || 5,
      contextTokens: contextTokens || 8,
    });
    return { versions: opened, spans };
  }

  async receipt(inferenceId: string): Promise<ReceiptDoc> {
    if (!inferenceId) throw new AttributionError('INVALID_FIELD', 'inference_id: required');
    const doc = await this.readModels.readCaughtUp('attribution', () => this.store.get('attribution_receipts', inferenceId));
    if (doc) return doc as ReceiptDoc;
    // The receipt of a completed inference is written after it, by the receipt writer (which may
    // wait for an index build): on its way, not missing. Before, a client asking right after
    // Generate was told NOT_FOUND, as for an inference that never was.
    const [outcome] = await this.log.readStream(inferenceStreamOf(inferenceId), 1, 1);
    if (outcome && inferenceCompletedCodec.handles(outcome.type)) {
      throw new AttributionError('RECEIPT_PENDING', `inference_id: the receipt of ${inferenceId} is being computed; retry shortly`);
    }
    throw new AttributionError('RECEIPT_NOT_FOUND', `inference_id: no attribution receipt for ${inferenceId}${outcome ? ' (it did not complete)' : ''}`);
  }

  async indexes(datanetId: string): Promise<IndexDoc[]> {
    const items = await this.store.list('attribution_indexes', {
      where: datanetId ? { datanetId } : {},
      sort: [{ field: 'datanetId', order: 'asc' }, { field: 'version', order: 'asc' }],
    });
    return items as IndexDoc[];
  }

  /** Requested versions -> opened indexes; NOT_FOUND for an unpublished version, FAILED_PRECONDITION while building. */
  private async open(keys: readonly string[]): Promise<OpenedIndex[]> {
    const refs = parseRequestedVersions('datanet_versions', keys);
    const out: OpenedIndex[] = [];
    for (const ref of refs) {
      const key = versionKey(ref);
      const built = (await this.store.get('attribution_indexes', key)) as IndexDoc | undefined;
      if (!built) {
        const published = await this.readModels.readCaughtUp('attribution', () => this.store.get('attribution_versions', key));
        if (published) throw new AttributionError('INDEX_BUILDING', `datanet_versions: the index of ${key} is still being built; retry shortly`);
        throw new AttributionError('VERSION_NOT_FOUND', `datanet_versions: no published Datanet version ${key}`);
      }
      try {
        out.push({ ref, indexHash: built.indexHash, index: await this.local.open(ref, built.indexHash) });
      } catch (error) {
        throw new AttributionError('INDEX_UNAVAILABLE', `datanet_versions: the index of ${key} cannot be read: ${(error as Error).message}`);
      }
    }
    return out;
  }
}

function checkText(text: string): void {
  if (!text) throw new AttributionError('INVALID_FIELD', 'text: required');
  if (text.length > MAX_TEXT_CHARS) throw new AttributionError('INVALID_FIELD', `text: at most ${MAX_TEXT_CHARS} characters`);
}
