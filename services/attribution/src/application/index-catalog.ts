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

  /** The built indexes among `refs`, opened, in the order given; versions without an index are left out. */
  async openBuilt(refs: readonly DatanetVersionRef[]): Promise<OpenedIndex[]> {
    const out: OpenedIndex[] = [];
    for (const ref of refs) {
      const s = await this.state(ref);
      if (s.built) out.push({ ref, indexHash: s.indexHash, index: await this.indexes.open(ref, s.indexHash) });
    }
    return out;
  }
}
