import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { computeEventHash, toHex } from '../envelope.js';
import { EXPORT_FORMAT, EXPORT_VERSION, payloadAsJson, type ExportedEvent } from './log-export.js';
import { streamsDigest, type StreamHead } from './streams-digest.js';

export type VerifyResult =
  | { ok: true; events: number; streams: number; digest: string; streamsDigest: string }
  | { ok: false; events: number; line: number; position: number | undefined; error: string };

const HEX32 = /^[0-9a-f]{64}$/;

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What a field reads as when its message was written before the field existed (protobuf's defaults, as payloadAsJson gives them). */
function isDefault(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === '' || v === false || v === '0' || v === '0x') return true;
  if (Array.isArray(v)) return v.length === 0;
  return isObject(v) && Object.values(v).every(isDefault);
}

/**
 * Whether an export's readable `data` says what the payload decodes to in this release: the same
 * fields with the same values, except that a field `data` lacks must decode to its default. An
 * export written before a field was added to its event has no such key, and its payload holds no
 * such field either; refused, every archived export failed after an upgrade that added one.
 */
function agrees(decoded: unknown, data: unknown): boolean {
  if (isObject(decoded) && isObject(data)) {
    for (const key of Object.keys(data)) if (!(key in decoded)) return false;
    return Object.entries(decoded).every(([key, value]) => (key in data ? agrees(value, data[key]) : isDefault(value)));
  }
  if (Array.isArray(decoded) && Array.isArray(data)) return decoded.length === data.length && decoded.every((v, i) => agrees(v, data[i]));
  return canonical(decoded) === canonical(data);
}

/**
 * Checks an exported log: every line parses, positions run 0, 1, 2, ..., each event's hash matches
 * its content, each stream's sequence is gapless and each prev_hash links to the previous event of
 * its stream, the readable `data` matches the payload, and the trailer's counts and digests match.
 * Stops at the first bad event and names it.
 */
export async function verifyExport(file: string, onProgress?: (events: number) => void): Promise<VerifyResult> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const heads = new Map<string, StreamHead>();
  const digest = createHash('sha256');
  let lineNo = 0;
  let events = 0;
  let header = false;
  let trailer: { events: number; digest: string; streams?: number; streamsDigest?: string } | undefined;
  const fail = (error: string, position?: number): VerifyResult => ({ ok: false, events, line: lineNo, position, error });
  for await (const line of lines) {
    lineNo++;
    if (trailer) return fail('content after the trailer line');
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return fail(`line ${lineNo} is not valid JSON`);
    }
    if (!isObject(obj)) return fail(`line ${lineNo} is not a JSON object`);
    if (!header) {
      if (obj['format'] !== EXPORT_FORMAT) return fail(`line 1 is not an ${EXPORT_FORMAT} header`);
      if (obj['version'] !== EXPORT_VERSION) return fail(`line 1: export version ${String(obj['version'])}; this release reads version ${EXPORT_VERSION}`);
      header = true;
      continue;
    }
    if (obj['end'] === true) {
      trailer = { events: Number(obj['events']), digest: String(obj['digest']) };
      // Exports written before the streams digest have neither field.
      if (obj['streams'] !== undefined) trailer.streams = Number(obj['streams']);
      if (obj['streams_digest'] !== undefined) trailer.streamsDigest = String(obj['streams_digest']);
      continue;
    }
    const e = obj as unknown as ExportedEvent;
    const where = `event at line ${lineNo} (position ${String(e.position)}, stream ${String(e.stream_id)}, seq ${String(e.stream_seq)})`;
    if (e.position !== events) return fail(`${where}: expected position ${events}; an event is missing, added or moved`, events);
    if (typeof e.hash !== 'string' || !HEX32.test(e.hash) || typeof e.prev_hash !== 'string' || !HEX32.test(e.prev_hash)) {
      return fail(`${where}: hash or prev_hash is not 32 bytes of hex`, e.position);
    }
    let payload: Buffer;
    try {
      payload = Buffer.from(String(e.payload), 'base64');
      if (payload.toString('base64') !== e.payload) throw new Error('not canonical base64');
    } catch {
      return fail(`${where}: payload is not base64`, e.position);
    }
    const fields = {
      eventId: String(e.event_id),
      type: String(e.type),
      schemaVersion: Number(e.schema_version),
      streamId: String(e.stream_id),
      streamSeq: Number(e.stream_seq),
      occurredAt: Number(e.occurred_at),
      correlationId: String(e.correlation_id),
      causationId: String(e.causation_id),
      producer: String(e.producer),
      payload: new Uint8Array(payload),
      prevHash: new Uint8Array(Buffer.from(e.prev_hash, 'hex')),
    };
    let hash: string;
    try {
      hash = toHex(computeEventHash(fields));
    } catch {
      return fail(`${where}: a field has the wrong type`, e.position);
    }
    if (hash !== e.hash) return fail(`${where}: hash does not match the event's content`, e.position);
    const head = heads.get(fields.streamId) ?? { seq: 0, hash: '0'.repeat(64) };
    if (fields.streamSeq !== head.seq + 1) {
      return fail(`${where}: stream sequence jumps from ${head.seq} to ${fields.streamSeq}`, e.position);
    }
    if (e.prev_hash !== head.hash) return fail(`${where}: prev_hash does not link to the previous event of its stream`, e.position);
    let decoded: unknown;
    try {
      decoded = payloadAsJson(fields.type, fields.payload);
    } catch {
      return fail(`${where}: payload does not decode as ${fields.type}`, e.position);
    }
    if (!agrees(decoded, e.data ?? null)) return fail(`${where}: data does not match the payload`, e.position);
    heads.set(fields.streamId, { seq: fields.streamSeq, hash: e.hash });
    digest.update(Buffer.from(e.hash, 'hex'));
    events++;
    if (events % 50_000 === 0) onProgress?.(events);
  }
  if (!header) return fail('the file is empty');
  if (!trailer) return fail('the trailer line is missing: the file is cut off');
  if (trailer.events !== events) return fail(`the trailer counts ${trailer.events} events, the file has ${events}`);
  const d = digest.digest('hex');
  if (trailer.digest !== d) return fail('the trailer digest does not match the events');
  if (trailer.streams !== undefined && trailer.streams !== heads.size) return fail(`the trailer counts ${trailer.streams} streams, the file has ${heads.size}`);
  const s = streamsDigest(heads);
  if (trailer.streamsDigest !== undefined && trailer.streamsDigest !== s) return fail('the trailer streams digest does not match the streams');
  return { ok: true, events, streams: heads.size, digest: d, streamsDigest: s };
}
