import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { eventCatalog } from '@opal/contracts';
import type { Cursor, EventLog } from '../event-log.port.js';
import { readToEnd } from './read-to-end.js';
import type { StoredEvent } from '../envelope.js';
import { toHex } from '../envelope.js';
import { streamsDigest, type StreamHead } from './streams-digest.js';

export const EXPORT_FORMAT = 'opal-event-log';
export const EXPORT_VERSION = 1;

/** One exported event: the envelope's fields; `payload` is authoritative, `data` is for reading. */
export type ExportedEvent = {
  position: number;
  event_id: string;
  type: string;
  schema_version: number;
  stream_id: string;
  stream_seq: number;
  occurred_at: number;
  correlation_id: string;
  causation_id: string;
  producer: string;
  payload: string;
  data: unknown;
  prev_hash: string;
  hash: string;
};

/** Decoded payload as plain JSON (bigint and bytes as strings), or null for an unknown type. */
export function payloadAsJson(type: string, payload: Uint8Array): unknown {
  const codec = eventCatalog.get(type);
  if (!codec) return null;
  return JSON.parse(
    JSON.stringify(codec.decode(payload), (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return '0x' + Buffer.from(v).toString('hex');
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') {
        return '0x' + Buffer.from((v as { data: number[] }).data).toString('hex');
      }
      return v;
    }),
  );
}

export function toExported(e: StoredEvent, position: number): ExportedEvent {
  return {
    position,
    event_id: e.eventId,
    type: e.type,
    schema_version: e.schemaVersion,
    stream_id: e.streamId,
    stream_seq: e.streamSeq,
    occurred_at: e.occurredAt,
    correlation_id: e.correlationId,
    causation_id: e.causationId,
    producer: e.producer,
    payload: Buffer.from(e.payload).toString('base64'),
    data: payloadAsJson(e.type, e.payload),
    prev_hash: toHex(e.prevHash),
    hash: toHex(e.hash),
  };
}

/**
 * What an export's trailer states: the events, their digest in file order, and the streams digest;
 * and, on a log others append to, where it stopped (`until`, per partition: the log's ends when the
 * export began).
 */
export type ExportSummary = { events: number; digest: string; streams: number; streamsDigest: string; until?: Cursor };

/**
 * Writes the whole log as JSON lines: a header, one line per event in log order, and a trailer
 * with the count, a SHA-256 over every event hash in file order (so a cut-off file is detected
 * too), the number of streams and their streams digest (see streamsDigest: the same for one log
 * exported from either adapter).
 */
export async function exportLog(log: EventLog, file: string, onProgress?: (events: number) => void): Promise<ExportSummary> {
  const out = createWriteStream(file);
  const write = async (line: string) => {
    if (!out.write(line + '\n')) await once(out, 'drain');
  };
  await write(JSON.stringify({ format: EXPORT_FORMAT, version: EXPORT_VERSION }));
  const digest = createHash('sha256');
  const heads = new Map<string, StreamHead>();
  let position = 0;
  const until = log.endsOf ? await log.endsOf() : undefined;
  for await (const events of readToEnd(log, 5000, until)) {
    for (const e of events) {
      const line = toExported(e, position++);
      await write(JSON.stringify(line));
      digest.update(e.hash);
      heads.set(e.streamId, { seq: e.streamSeq, hash: line.hash });
    }
    onProgress?.(position);
  }
  const summary: ExportSummary = { events: position, digest: digest.digest('hex'), streams: heads.size, streamsDigest: streamsDigest(heads), until };
  await write(JSON.stringify({ end: true, events: summary.events, digest: summary.digest, streams: summary.streams, streams_digest: summary.streamsDigest }));
  out.end();
  await once(out, 'finish');
  return summary;
}
