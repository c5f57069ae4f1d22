import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type * as api from '@opal/contracts/opal/governance/v1/governance.api';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { parameterSpecs } from '@opal/protocol-parameters';
import { createRpcExceptionFilter, noServiceErrors } from '@opal/service-runtime';
import type { ParameterDoc } from '../../projections/parameters.projection.js';

const Filter = createRpcExceptionFilter('governance', noServiceErrors);

@Controller()
@UseFilters(Filter)
export class GovernanceController {
  constructor(@Inject(DOCUMENT_STORE) private readonly store: DocumentStore) {}

  @GrpcMethod('GovernanceService', 'GetParameters')
  async getParameters(_r: api.GetParametersRequest): Promise<api.GetParametersResponse> {
    const set = await this.store.getMany('governance_parameters', parameterSpecs.map((p) => p.name));
    return {
      parameters: parameterSpecs.map((p) => {
        const doc = set.get(p.name) as ParameterDoc | undefined;
        return { name: p.name, value: doc?.value ?? p.genesis, description: p.description, setBy: doc?.setBy ?? '' };
      }),
    };
  }
}
