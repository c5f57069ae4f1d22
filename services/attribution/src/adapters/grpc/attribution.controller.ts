import { Controller, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type * as api from '@opal/contracts/opal/attribution/v1/attribution.api';
import { createRpcExceptionFilter } from '@opal/service-runtime';
import { AttributionQueries } from '../../application/attribution.queries.js';
import { attributionErrorMapper } from './attribution-error.mapper.js';
import * as map from './attribution.mapping.js';

const Filter = createRpcExceptionFilter('attribution', attributionErrorMapper);

/** gRPC edge of attribution: proto message in, query, proto message out. */
@Controller()
@UseFilters(Filter)
export class AttributionController {
  constructor(private readonly queries: AttributionQueries) {}

  @GrpcMethod('AttributionService', 'Attribute')
  async attribute(r: api.AttributeRequest): Promise<api.AttributeResponse> {
    return map.attributeResponse(await this.queries.attribute(r.text, r.datanetVersions ?? [], r.retrievedContributions ?? []));
  }

  @GrpcMethod('AttributionService', 'Trace')
  async trace(r: api.TraceRequest): Promise<api.TraceResponse> {
    return map.traceResponse(await this.queries.trace(r.text, r.datanetVersions ?? [], r.maxDocuments, r.contextTokens));
  }

  @GrpcMethod('AttributionService', 'GetReceipt')
  async getReceipt(r: api.GetReceiptRequest): Promise<api.Receipt> {
    return map.receipt(await this.queries.receipt(r.inferenceId));
  }

  @GrpcMethod('AttributionService', 'ListIndexes')
  async listIndexes(r: api.ListIndexesRequest): Promise<api.ListIndexesResponse> {
    return { indexes: (await this.queries.indexes(r.datanetId)).map(map.indexInfo) };
  }
}
