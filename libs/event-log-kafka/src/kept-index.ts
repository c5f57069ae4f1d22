import { tmpdir } from 'node:os';
import { decodeImage, encodeImage, IndexFiles, type LoadedImage } from './index-snapshot.js';
import { LogIndex } from './log-index.js';
import { CHUNK_BYTES, RecordArena, type RecordArenaOptions } from './record-arena.js';

export type LogIndexOptions = RecordArenaOptions & {
  /**
   * Keep the index across restarts, in a folder of `dir` named after `topics` (see IndexFiles): a
   * process started again loads its last snapshot and reads from Kafka only what came after it.
   */
  readonly persist?: { readonly topics: readonly string[] };
};

/** A kept index with new events writes a snapshot at least this often (see IndexKeeper.due). */
const SNAPSHOT_AT_LEAST_MS = 60 * 60_000;
/** A close writes a snapshot when at least 1/CLOSE_SHARE as many events as the last held came since. */
const CLOSE_SHARE = 20;

/**
 * The index of the log for these options: kept across restarts (with the IndexKeeper that writes
 * its snapshots) when `persist` asks and its folder can be had, otherwise one of this process only.
 */
export function openLogIndex(options: LogIndexOptions = {}): { index: LogIndex; keeper?: IndexKeeper } {
  if (!options.persist) return { index: new LogIndex(new RecordArena(options)) };
  const dir = options.dir ?? tmpdir();
  let files: IndexFiles | undefined;
  try {
    files = IndexFiles.take(dir, options.persist.topics);
    if (!files) {
      process.emitWarning(`kafka index: another process (or another log of this one) keeps its index of these topics in ${dir}; this one rebuilds its own from offset zero and keeps none`, { code: 'OPAL_KAFKA_INDEX_HELD' });
      return { index: new LogIndex(new RecordArena(options)) };
    }
    const topics = options.persist.topics;
    const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
    let image = loadImage(files, topics, chunkBytes);
    let arena: RecordArena;
    try {
      arena = RecordArena.persisted(files.recordsPath, options, image?.layout);
    } catch (error) {
      if (!image) throw error;
      // The records file holds less than the snapshot names.
      dropSnapshot(files, error);
      image = undefined;
      arena = RecordArena.persisted(files.recordsPath, options);
    }
    const index = new LogIndex(arena, image);
    return { index, keeper: new IndexKeeper(index, arena, files, topics, chunkBytes) };
  } catch (error) {
    // A folder it cannot use (read-only, no room): the index works as one not kept.
    process.emitWarning(`kafka index: cannot keep the index in ${dir}, keeping none: ${error instanceof Error ? error.message : String(error)}`, { code: 'OPAL_KAFKA_INDEX_SNAPSHOT' });
    files?.release();
    return { index: new LogIndex(new RecordArena(options)) };
  }
}

/** The folder's last snapshot, if there is one this index can take (one it cannot is dropped, saying why). */
function loadImage(files: IndexFiles, topics: readonly string[], chunkBytes: number): LoadedImage | undefined {
  const bytes = files.read();
  if (bytes === undefined) return undefined;
  try {
    const image = decodeImage(bytes);
    if (image.topics.join('\n') !== topics.join('\n')) throw new Error('it is of other topics');
    if (image.chunkBytes !== chunkBytes) throw new Error(`its chunks are of ${image.chunkBytes} bytes, not ${chunkBytes}`);
    return image;
  } catch (error) {
    dropSnapshot(files, error);
    return undefined;
  }
}

function dropSnapshot(files: IndexFiles, why: unknown): void {
  process.emitWarning(`kafka index: snapshot in ${files.dir} not used, reading the log from offset zero: ${why instanceof Error ? why.message : String(why)}`, { code: 'OPAL_KAFKA_INDEX_SNAPSHOT' });
  files.forget();
}

/**
 * Writes a kept index's snapshots: when due (checked every `schedule` interval), on demand, and at
 * close when worth it; drops the snapshot when the index is reset (the log is not the one it was
 * taken of).
 */
export class IndexKeeper {
  /** Events held at the last snapshot (at start, those loaded), and when it was written. */
  private savedEvents: number;
  private savedAt = Date.now();
  private writing: Promise<void> | undefined;
  /** Moves on at each reset: a snapshot taken before one must not be kept. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly index: LogIndex,
    private readonly arena: RecordArena,
    private readonly files: IndexFiles,
    private readonly topics: readonly string[],
    private readonly chunkBytes: number,
  ) {
    this.savedEvents = index.restored;
    index.onReset = () => {
      this.generation++;
      this.savedEvents = 0;
      files.forget();
    };
  }

  /** Writes a snapshot whenever one is due, checking every `everyMs`. */
  schedule(everyMs: number): void {
    this.timer = setInterval(() => {
      if (this.due()) void this.snapshot().catch((error: unknown) => process.emitWarning(`kafka index: snapshot not written: ${String(error)}`, { code: 'OPAL_KAFKA_INDEX_SNAPSHOT' }));
    }, everyMs);
    this.timer.unref();
  }

  /** Events since the last snapshot. */
  private get fresh(): number {
    return this.index.stats().events - this.savedEvents;
  }

  /**
   * Whether a snapshot is worth writing now: events came since the last, a tenth as many again as
   * it held or an hour's worth. Never while a partition waits for confirmation.
   */
  due(now = Date.now()): boolean {
    if (!this.arena.persisted || this.index.confirming || this.writing) return false;
    const fresh = this.fresh;
    return fresh > 0 && (fresh * 10 >= this.savedEvents || now - this.savedAt >= SNAPSHOT_AT_LEAST_MS);
  }

  /**
   * Writes what the index holds to its snapshot (records made durable first); false when the disk
   * refused its records or a partition waits for confirmation. The state is taken at once; the
   * writing goes on meanwhile.
   */
  async snapshot(): Promise<boolean> {
    while (this.writing) await this.writing.catch(() => {});
    if (this.index.confirming) return false;
    const layout = this.arena.layout();
    if (!layout) return false;
    const state = this.index.state();
    const generation = this.generation;
    const parts = encodeImage({ topics: this.topics, chunkBytes: this.chunkBytes, layout, ...state });
    this.writing = (async () => {
      await this.arena.sync();
      await this.files.write(parts);
      if (generation !== this.generation) this.files.forget(); // reset meanwhile: the snapshot is of the log before
      else this.savedEvents = state.events;
      this.savedAt = Date.now();
    })();
    try {
      await this.writing;
      return generation === this.generation;
    } finally {
      this.writing = undefined;
    }
  }

  /**
   * Writes a last snapshot when a twentieth as many events as the last one held came since, and lets
   * the folder go. A snapshot is written whole: at 1,000,000 events it took about as long as reading
   * 80,000 from Kafka at the next start, so a close with fewer new events than that leaves them to
   * the next start rather than holding up a shutdown (a pod has seconds for it).
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      const fresh = this.fresh;
      if (fresh > 0 && fresh * CLOSE_SHARE >= this.savedEvents) await this.snapshot();
    } catch (error) {
      process.emitWarning(`kafka index: last snapshot not written: ${String(error)}`, { code: 'OPAL_KAFKA_INDEX_SNAPSHOT' });
    } finally {
      this.files.release();
    }
  }
}
