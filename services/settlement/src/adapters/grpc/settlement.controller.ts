import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { getAddress, isAddress } from 'ethers';
import type * as api from '@opal/contracts/opal/settlement/v1/settlement.api';
import { DOCUMENT_STORE, type DocumentStore } from '@opal/event-sourcing';
import { createRpcExceptionFilter, noServiceErrors, rpcError } from '@opal/service-runtime';
import type { BalanceDoc } from '../../projections/balances.projection.js';
import type { EpochDoc } from '../../projections/epochs.projection.js';

const Filter = createRpcExceptionFilter('settlement', noServiceErrors);

@Controller()
@UseFilters(Filter)
export class SettlementController {
  constructor(@Inject(DOCUMENT_STORE) private readonly store: DocumentStore) {}

  @GrpcMethod('SettlementService', 'GetBalance')
  async getBalance(r: api.GetBalanceRequest): Promise<api.Balance> {
    if (!isAddress(r.account)) throw rpcError('INVALID_ARGUMENT', `account: ${JSON.stringify(r.account)} is not an Ethereum address`);
    const account = getAddress(r.account);
    const b = ((await this.store.get('settlement_balances', account)) as BalanceDoc | undefined) ?? { account, accrued: '0', claimed: '0' };
    return { account, accrued: b.accrued, claimed: b.claimed, claimable: (BigInt(b.accrued) - BigInt(b.claimed)).toString() };
  }

  @GrpcMethod('SettlementService', 'ListEpochs')
  async listEpochs(_r: api.ListEpochsRequest): Promise<api.ListEpochsResponse> {
    const items = await this.store.list('settlement_epochs', { sort: [{ field: 'epoch', order: 'asc' }] });
    return { epochs: (items as EpochDoc[]).map((e) => ({ ...e, epoch: String(e.epoch) })) };
  }
}
