import { Inject, Injectable } from '@nestjs/common';
import { StandardMerkleTree } from '@opal/merkle';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { decidePublish } from '../domain/datanet.decider.js';
import { datanetStream, type ManifestEntry } from '../domain/ingest.events.js';
import { IngestError } from '../domain/ingest.errors.js';
import { DatanetRepository } from './datanet.repository.js';

/** Leaf layout of a version manifest's Merkle tree (OpenZeppelin StandardMerkleTree compatible). */
export const manifestLeafEncoding = ['bytes32', 'bytes32', 'address'] as const;

export function manifestRoot(entries: readonly ManifestEntry[]): string {
  return StandardMerkleTree.of(
    entries.map((e) => [e.contributionId, e.contentHash, e.contributor]),
    manifestLeafEncoding,
  ).root;
}

@Injectable()
export class PublishVersionHandler {
  constructor(
    private readonly datanets: DatanetRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute(datanetId: string): Promise<{ version: number; merkleRoot: string; contributions: number }> {
    if (!datanetId) throw new IngestError('INVALID_FIELD', 'datanet_id: required');
    const stream = datanetStream(datanetId);
    if (!(await this.datanets.peek(stream)).state.created) throw new IngestError('DATANET_NOT_FOUND', `datanet_id: no Datanet ${datanetId}`);
    const { result } = await this.datanets.execute(stream, { now: this.clock.now() }, (state) => {
      const events = decidePublish(state, manifestRoot);
      const e = events[0]!;
      if (e.type !== 'DatanetVersionPublished') throw new Error('unreachable');
      return { events, result: { version: e.data.version, merkleRoot: e.data.merkleRoot, contributions: e.data.carried + e.data.entries.length } };
    });
    return result;
  }
}
