import type { Doc, Projection } from '@opal/event-sourcing';
import type { SettlementEvent } from '../domain/settlement.events.js';
import { settlementCodec } from './balances.projection.js';

export type EpochDoc = { epoch: number; merkleRoot: string; logDigest: string; total: string; status: 'CLOSED' | 'SUBMITTED' | 'FINALIZED'; txHash: string };

export const epochsProjection: Projection<SettlementEvent> = {
  name: 'settlement.epochs',
  codec: settlementCodec,
  collections: [{ name: 'settlement_epochs', indexes: [] }],
  route(e) {
    if (e.type === 'EpochClosed' || e.type === 'EpochRootSubmitted' || e.type === 'EpochRootFinalized') {
      return [{ collection: 'settlement_epochs', id: e.data.epoch.toString().padStart(12, '0') }];
    }
    return [];
  },
  evolve(_ref, doc, e): Doc | undefined {
    const d = doc as EpochDoc | undefined;
    switch (e.type) {
      case 'EpochClosed':
        return { epoch: Number(e.data.epoch), merkleRoot: e.data.merkleRoot, logDigest: e.data.logDigest, total: e.data.total, status: 'CLOSED', txHash: '' } satisfies EpochDoc;
      case 'EpochRootSubmitted':
        return d && { ...d, status: 'SUBMITTED', txHash: e.data.txHash };
      case 'EpochRootFinalized':
        return d && { ...d, status: 'FINALIZED', txHash: e.data.txHash };
      default:
        return undefined;
    }
  },
};
