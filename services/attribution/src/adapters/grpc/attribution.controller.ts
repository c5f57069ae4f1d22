import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type * as api from '@opal/contracts/opal/attribution/v1/attribution.api';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { createRpcExceptionFilter, rpcError } from '@opal/service-runtime';
import type { IndexDoc, ReceiptDoc } from '../../projections/receipts.projection.js';

const Filter = createRpcExceptionFilter({ matches: () => false, toRpc: () => rpcError('INTERNAL', '') }, () => {});

@Controller()
@UseFilters(Filter)
export class AttributionController {
  constructor(@Inject(DOCUMENT_STORE) private readonly store: DocumentStore) {}

  @GrpcMethod('AttributionService', 'GetReceipt')
  async getReceipt(r: api.GetReceiptRequest): Promise<api.Receipt> {
    if (!r.inferenceId) throw rpcError('INVALID_ARGUMENT', 'inference_id: required');
    const doc = (await this.store.get('attribution_receipts', r.inferenceId)) as ReceiptDoc | undefined;
    if (!doc) throw rpcError('NOT_FOUND', `inference_id: no attribution receipt for ${r.inferenceId}`);
    return { inferenceId: doc.inferenceId, indexHashes: doc.indexHashes, methodVersion: doc.methodVersion, spans: doc.spans, weights: doc.weights };
  }

  @GrpcMethod('AttributionService', 'ListIndexes')
  async listIndexes(r: api.ListIndexesRequest): Promise<api.ListIndexesResponse> {
    const { items } = await this.store.find('attribution_indexes', {
      where: r.datanetId ? { datanetId: r.datanetId } : {},
      sort: [{ field: 'datanetId', order: 'asc' }, { field: 'version', order: 'asc' }],
    });
    return { indexes: (items as IndexDoc[]).map((i) => ({ datanetId: i.datanetId, version: i.version, indexHash: i.indexHash, tokens: i.tokens })) };
  }
}
