import { Inject, Injectable } from '@nestjs/common';
import { EVENT_LOG, type EventLog } from '@opal/event-log';
import { indexStream } from '../domain/attribution.events.js';
import { evolveIndex, initialIndexState, type IndexState } from '../domain/index.decider.js';
import type { OpenedIndex } from '../domain/compute-receipt.js';
import type { DatanetVersionRef } from '../domain/datanet-version.js';
import { attributionCodec } from './attribution.codecs.js';
import { LocalIndexes } from './local-indexes.js';

/** Indexes as the log knows them (the write side): a version's index stream, then its files. */
@Injectable()
export class IndexCatalog {
  constructor(
    @Inject(EVENT_LOG) private readonly log: EventLog,
    private readonly indexes: LocalIndexes,
  ) {}

  async state(ref: DatanetVersionRef): Promise<IndexState> {
    let state = initialIndexState;
    for (const s of await this.log.readStream(indexStream(ref.datanetId, ref.version))) state = evolveIndex(state, attributionCodec.decode(s)!);
    return state;
  }

  /** The state of each of `refs`' indexes, in the order given. */
  states(refs: readonly DatanetVersionRef[]): Promise<IndexState[]> {
    return Promise.all(refs.map((ref) => this.state(ref)));
  }

  /**
   * The built indexes among `refs`, opened, in the order given; versions without an index are left
   * out. `states` when the caller has just read them (states(refs)).
   */
  async openBuilt(refs: readonly DatanetVersionRef[], states?: readonly IndexState[]): Promise<OpenedIndex[]> {
    const known = states ?? (await this.states(refs));
    const out: OpenedIndex[] = [];
    for (const [i, ref] of refs.entries()) {
      const s = known[i]!;
      if (s.built) out.push({ ref, indexHash: s.indexHash, index: await this.indexes.open(ref, s.indexHash) });
    }
    return out;
  }
}
