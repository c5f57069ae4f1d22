import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { toHex, verifyExport, type EventLog, type ExportedEvent, type NewEvent } from '@opal/event-log';

export type ImportResult = { events: number; streams: number; digest: string; streamsDigest: string };

/**
 * Loads an exported log (`opal log export`) into an empty log, typically a fresh Kafka cluster:
 * verifies the file first, refuses a target that holds any event, then appends stream by stream in
 * file order with the exported ids, producers and times, so sequences and hashes come out the same;
 * every appended hash is checked against the file.
 */
export async function importLog(log: EventLog, file: string, onProgress?: (events: number) => void): Promise<ImportResult> {
  const verified = await verifyExport(file);
  if (!verified.ok) throw new Error(`log import: ${file} does not verify: ${verified.error}`);
  const stats = await log.stats();
  if (stats.events > 0) throw new Error(`log import: the target log is not empty (${stats.events} events in ${stats.streams} streams)`);
  let pending: ExportedEvent[] = [];
  let done = 0;
  const inFlight = new Set<Promise<void>>();
  const flush = async (group: ExportedEvent[]) => {
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
    onProgress?.(done);
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
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  if (pending.length) void send(pending);
  await Promise.all([...tails.values()]);
  if (failures.length > 0) throw failures[0];
  return { events: done, streams: verified.streams, digest: verified.digest, streamsDigest: verified.streamsDigest };
}
