import type { EventLog, StoredEvent } from '@opal/event-log';
import type { DatanetVersionRef } from '../domain/datanet-version.js';
import { datanetStreamOf, manifestOf, type DatanetVersionPublished, type ManifestEntry } from '../domain/upstream.events.js';
import { versionPublishedCodec } from './attribution.codecs.js';

// Events read from a Datanet's stream per page, looking for its earlier versions.
const PAGE = 2000;

/** The versions published in a Datanet's stream, in order, read a page at a time up to `beforeSeq`. */
async function* versionsIn(log: Pick<EventLog, 'readStream'>, streamId: string, beforeSeq = Infinity): AsyncGenerator<DatanetVersionPublished['data']> {
  for (let seq = 1; seq < beforeSeq; ) {
    const page = await log.readStream(streamId, seq, Math.min(PAGE, beforeSeq - seq));
    if (page.length === 0) return;
    for (const stored of page) {
      const e = versionPublishedCodec.decode(stored);
      if (e) yield e.data;
    }
    seq = page[page.length - 1]!.streamSeq + 1;
  }
}

/**
 * The whole manifest of version `v`, whose event is `at` in its Datanet's stream: the entries it
 * carries come from the versions published before it in that stream.
 */
export async function manifestFromLog(log: Pick<EventLog, 'readStream'>, v: DatanetVersionPublished['data'], at: Pick<StoredEvent, 'streamId' | 'streamSeq'>): Promise<ManifestEntry[]> {
  if (v.carried === 0) return v.entries;
  let previous: ManifestEntry[] = [];
  for await (const earlier of versionsIn(log, at.streamId, at.streamSeq)) if (earlier.version < v.version) previous = manifestOf(previous, earlier);
  return manifestOf(previous, v);
}

/**
 * Version `ref`'s whole manifest and size, read from its Datanet's stream: undefined when the log
 * (as this process reads it now) holds no such version.
 */
export async function versionFromLog(log: Pick<EventLog, 'readStream'>, ref: DatanetVersionRef): Promise<{ entries: ManifestEntry[]; totalBytes: bigint } | undefined> {
  let manifest: ManifestEntry[] = [];
  for await (const v of versionsIn(log, datanetStreamOf(ref.datanetId))) {
    if (v.version > ref.version) continue;
    manifest = manifestOf(manifest, v);
    if (v.version === ref.version) return { entries: manifest, totalBytes: v.totalBytes };
  }
  return undefined;
}
