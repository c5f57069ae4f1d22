import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { toHex, verifyExport, type EventLog, type ExportedEvent, type NewEvent } from '@opal/event-log';

/** `skipped`: events the target already held (an import resumed). */
export type ImportResult = { events: number; skipped: number; streams: number; digest: string; streamsDigest: string };

/**
 * Loads an exported log (`opal log export`) into an empty log, typically a fresh Kafka cluster:
 * verifies the file first, refuses a target that holds any event, then appends stream by stream in
 * file order with the exported ids, producers and times, so sequences and hashes come out the same;
 * every appended hash is checked against the file. Sending stops at the first failure.
 *
 * With `resume`, a target that holds part of the file (an import that was interrupted) is taken
 * as it is where each of its streams is the start of the file's (the same hash at its last
 * sequence), and the rest is appended; a stream that differs is refused, naming it. At the end the
 * target must hold exactly the file's events and streams, or it held others before.
 */
export type ImportOptions = {
  readonly resume?: boolean;
  /**
   * Marks the target as being imported into before the first append, and clears the mark once the
   * target holds exactly the file (Kafka: KafkaEventLog.beginImport / endImport). An import cut
   * off, or refused part-way, leaves the mark, and services refuse to start on that log until an
   * import with `resume` completes it.
   */
  readonly mark?: { begin(): Promise<void>; end(): Promise<void> };
};

export async function importLog(log: EventLog, file: string, onProgress?: (events: number) => void, options: ImportOptions = {}): Promise<ImportResult> {
  const verified = await verifyExport(file);
  if (!verified.ok) throw new Error(`log import: ${file} does not verify: ${verified.error}`);
  const stats = await log.stats();
  if (stats.events > 0 && !options.resume) {
    throw new Error(`log import: the target log is not empty (${stats.events} events in ${stats.streams} streams); if an import of this file into it was interrupted, run it again with --resume`);
  }
  await options.mark?.begin();
  let pending: ExportedEvent[] = [];
  let done = 0;
  let skipped = 0;
  const inFlight = new Set<Promise<void>>();
  /** Per stream, what the target held when the stream's first group came (resume): its version and last hash. */
  const held = new Map<string, { version: number; hash: string }>();
  const alreadyThere = async (group: ExportedEvent[]): Promise<number> => {
    const stream = group[0]!.stream_id;
    let target = held.get(stream);
    if (target === undefined) {
      const version = await log.streamVersion(stream);
      const [last] = version > 0 ? await log.readStream(stream, version, 1) : [];
      held.set(stream, (target = { version, hash: last ? toHex(last.hash) : '' }));
    }
    const { version, hash } = target;
    // The target's last event of the stream must be the file's event of that sequence.
    const same = group.find((e) => e.stream_seq === version);
    if (same && same.hash !== hash) throw new Error(`log import --resume: stream ${stream} in the target is not the start of the file's (its event ${version} hashes differently)`);
    return group.filter((e) => e.stream_seq <= version).length;
  };
  const flush = async (whole: ExportedEvent[]) => {
    const there = options.resume ? await alreadyThere(whole) : 0;
    skipped += there;
    const group = whole.slice(there);
    if (group.length === 0) {
      onProgress?.(done + skipped);
      return;
    }
    const first = group[0]!;
    const events: NewEvent[] = group.map((e) => ({
      type: e.type,
      payload: Buffer.from(e.payload, 'base64'),
      occurredAt: e.occurred_at,
      schemaVersion: e.schema_version,
      eventId: e.event_id,
      correlationId: e.correlation_id,
      causationId: e.causation_id,
    }));
    const stored = await log.append(first.stream_id, events, { expectedVersion: first.stream_seq - 1, producer: first.producer });
    stored.forEach((s, i) => {
      if (toHex(s.hash) !== group[i]!.hash) throw new Error(`log import: ${s.streamId}#${s.streamSeq} hashes differently after import`);
    });
    done += stored.length;
    onProgress?.(done + skipped);
  };
  // A stream's appends wait for its previous one; different streams go out together. A stream
  // leaves the map once its last append is done (a log of one-event streams would keep them all).
  const tails = new Map<string, Promise<void>>();
  const failures: unknown[] = [];
  const send = (group: ExportedEvent[]) => {
    const stream = group[0]!.stream_id;
    const p = (tails.get(stream) ?? Promise.resolve()).then(() => flush(group));
    tails.set(stream, p);
    inFlight.add(p);
    void p
      .catch((error: unknown) => void failures.push(error))
      .finally(() => {
        inFlight.delete(p);
        if (tails.get(stream) === p) tails.delete(stream);
      });
    return p;
  };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    const row = JSON.parse(line) as Partial<ExportedEvent> & { format?: string; end?: boolean };
    if (row.format || row.end || row.stream_id === undefined) continue;
    const e = row as ExportedEvent;
    const last = pending.at(-1);
    if (last && (last.stream_id !== e.stream_id || last.producer !== e.producer || pending.length >= 100)) {
      void send(pending);
      pending = [];
    }
    pending.push(e);
    if (inFlight.size >= 256) await Promise.race(inFlight).catch(() => undefined);
    if (failures.length > 0) break;
  }
  lines.close();
  if (pending.length && failures.length === 0) void send(pending);
  await Promise.allSettled([...tails.values()]);
  if (failures.length > 0) throw failures[0];
  const after = await log.stats();
  if (after.events !== verified.events || after.streams !== verified.streams) {
    throw new Error(`log import: the target holds ${after.events} events in ${after.streams} streams, the file ${verified.events} in ${verified.streams}: it held others before`);
  }
  await options.mark?.end();
  return { events: done, skipped, streams: verified.streams, digest: verified.digest, streamsDigest: verified.streamsDigest };
}
