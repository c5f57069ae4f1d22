import { Inject, Injectable } from '@nestjs/common';
import { StandardMerkleTree } from '@opal/merkle';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { decidePublish } from '../domain/datanet.decider.js';
import { datanetStream, type ManifestEntry } from '../domain/ingest.events.js';
import { IngestError } from '../domain/ingest.errors.js';
import { DatanetRepository } from './datanet.repository.js';
import type { DatanetState } from '../domain/datanet.state.js';

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

  /**
   * Publishes every contribution accepted so far. Past MAX_VERSION_ENTRIES new ones, as consecutive
   * versions of at most that many new entries each, one append each (each a whole version: a crash
   * between them leaves the versions so far, and the next call publishes the rest); answers with
   * the last.
   */
  async execute(datanetId: string): Promise<PublishedVersion> {
    if (!datanetId) throw new IngestError('INVALID_FIELD', 'datanet_id: required');
    const stream = datanetStream(datanetId);
    if (!(await this.datanets.peek(stream)).state.created) throw new IngestError('DATANET_NOT_FOUND', `datanet_id: no Datanet ${datanetId}`);
    // "So far" is the log's: another replica may have accepted contributions this one has not read
    // yet, and the version counts them all (the decision below fixes its extent at the first try).
    await this.datanets.refresh(stream);
    let upTo: number | undefined;
    let last: PublishedVersion | undefined;
    let decided = false;
    for (;;) {
      const { result } = await this.datanets.execute(stream, { now: this.clock.now() }, (state) => {
        upTo ??= state.accepted.length;
        // Another call published the rest meanwhile.
        if (last && state.acceptedAtLastVersion >= upTo) return { events: [], result: undefined };
        // This call's version lost its race to another call's (another replica's) that holds all it
        // was to hold: that version is the answer, not NOTHING_TO_PUBLISH.
        if (decided && state.acceptedAtLastVersion >= upTo) return { events: [], result: latestVersion(state) };
        const events = decidePublish(state, manifestRoot, { upTo });
        decided = true;
        const e = events[0]!;
        if (e.type !== 'DatanetVersionPublished') throw new Error('unreachable');
        return { events, result: { version: e.data.version, merkleRoot: e.data.merkleRoot, contributions: e.data.carried + e.data.entries.length } };
      });
      if (!result) return last!;
      last = result;
      if (result.contributions >= upTo!) return last;
    }
  }
}

export type PublishedVersion = { version: number; merkleRoot: string; contributions: number };

/** The Datanet's latest version as published: its root is over its whole manifest, as decidePublish made it. */
function latestVersion(state: DatanetState): PublishedVersion {
  const contributions = state.acceptedAtLastVersion;
  return { version: state.version, merkleRoot: manifestRoot(state.accepted.slice(0, contributions)), contributions };
}
