import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * An aggregate's state as of one event of its stream, so that loading it folds only the events
 * after that one. `schema` is the aggregate's snapshot schema (a state written by another one is not
 * read); `hash` is the hash of the event at `streamVersion`, checked against the log before the
 * snapshot is trusted (a log rebuilt or replaced since holds other events there).
 */
export type AggregateSnapshot = {
  readonly schema: number;
  readonly streamVersion: number;
  /** Hex SHA-256 of the event at streamVersion, as the log has it. */
  readonly hash: string;
  readonly state: Uint8Array;
};

/** Where aggregate snapshots live: the data folder (embedded), MongoDB (shared by the replicas). */
export interface SnapshotStore {
  load(streamId: string): Promise<AggregateSnapshot | undefined>;
  /** Replaces the stream's snapshot. */
  save(streamId: string, snapshot: AggregateSnapshot): Promise<void>;
}

export const SNAPSHOT_STORE = Symbol('SnapshotStore');

/** Snapshots in memory: for tests, and a process that keeps nothing on disk. */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<string, AggregateSnapshot>();

  async load(streamId: string): Promise<AggregateSnapshot | undefined> {
    return this.snapshots.get(streamId);
  }

  async save(streamId: string, snapshot: AggregateSnapshot): Promise<void> {
    this.snapshots.set(streamId, { ...snapshot, state: snapshot.state.slice() });
  }
}

/**
 * One file per stream in a folder (named by the SHA-256 of the stream id, which may hold any
 * character), replaced atomically: written aside, then renamed. The file is a header line of JSON
 * (the stream id too, to tell a hash collision from a snapshot) and the state's bytes after it.
 */
export class FileSnapshotStore implements SnapshotStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private fileOf(streamId: string): string {
    return join(this.dir, `${createHash('sha256').update(streamId).digest('hex')}.snapshot`);
  }

  async load(streamId: string): Promise<AggregateSnapshot | undefined> {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.fileOf(streamId));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const newline = bytes.indexOf(0x0a);
    if (newline < 0) return undefined;
    const header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as { streamId: string; schema: number; streamVersion: number; hash: string };
    if (header.streamId !== streamId) return undefined;
    return { schema: header.schema, streamVersion: header.streamVersion, hash: header.hash, state: new Uint8Array(bytes.subarray(newline + 1)) };
  }

  async save(streamId: string, snapshot: AggregateSnapshot): Promise<void> {
    const file = this.fileOf(streamId);
    const header = JSON.stringify({ streamId, schema: snapshot.schema, streamVersion: snapshot.streamVersion, hash: snapshot.hash });
    writeFileSync(`${file}.tmp`, Buffer.concat([Buffer.from(`${header}\n`, 'utf8'), snapshot.state]));
    renameSync(`${file}.tmp`, file);
  }
}
