import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { EventLogError } from '../errors.js';

/**
 * The embedded log's file format: a sequence of records, each
 *   u32 length (little endian) | u32 CRC-32 of the body | body (an encoded EventEnvelope).
 * A record is valid only whole and with a matching CRC. What follows the last valid record is a
 * torn write from a crash, cut off when the log opens for writing, unless a valid record lies
 * somewhere after it: then a record in the middle is damaged (a flipped bit, a bad page), and the
 * records after it were acknowledged; the log refuses to open rather than cut them off
 * (findRecordAfter).
 */
export const RECORD_HEADER = 8;
const CHUNK = 8 << 20;

export function frameRecord(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  out.set(body, RECORD_HEADER);
  return out;
}

export type ScanResult = { readonly records: number; readonly validBytes: number; readonly fileBytes: number };

/**
 * Reads the file front to back in large chunks and hands each valid record's body to `onRecord`
 * (the buffer is reused: copy what you keep). Stops at the first torn or corrupt record.
 */
export function scanLogFile(
  path: string,
  onRecord: (body: Buffer, offset: number, index: number) => void,
  fromOffset = 0,
  fromIndex = 0,
): ScanResult {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(CHUNK);
    let bufStart = fromOffset; // file offset of buf[0]
    let bufLen = 0;
    let pos = fromOffset;
    let index = fromIndex;
    for (;;) {
      const within = pos - bufStart;
      if (within + RECORD_HEADER <= bufLen && pos + RECORD_HEADER + buf.readUInt32LE(within) > fileBytes) break; // torn
      if (within + RECORD_HEADER > bufLen || within + RECORD_HEADER + buf.readUInt32LE(within) > bufLen) {
        // Refill: keep the unread tail, read more after it.
        if (pos >= fileBytes) break;
        const keep = bufLen - within;
        const need = within + RECORD_HEADER <= bufLen ? RECORD_HEADER + buf.readUInt32LE(within) : RECORD_HEADER;
        if (need > buf.length) {
          const bigger = Buffer.allocUnsafe(need + CHUNK);
          buf.copy(bigger, 0, within, bufLen);
          buf = bigger;
        } else buf.copy(buf, 0, within, bufLen);
        bufStart = pos;
        bufLen = keep;
        const n = readSync(fd, buf, bufLen, buf.length - bufLen, bufStart + bufLen);
        if (n === 0) break;
        bufLen += n;
        continue;
      }
      const len = buf.readUInt32LE(within);
      const crc = buf.readUInt32LE(within + 4);
      const body = buf.subarray(within + RECORD_HEADER, within + RECORD_HEADER + len);
      if (crc32(body) !== crc) break;
      onRecord(body, pos, index);
      pos += RECORD_HEADER + len;
      index++;
    }
    return { records: index, validBytes: pos, fileBytes };
  } finally {
    closeSync(fd);
  }
}

/** No event record's body is shorter: an envelope holds its hash and the previous one (32 bytes each). */
export const MIN_EVENT_BODY = 64;
const WINDOW = 1 << 20;

/**
 * The offset of the first whole record with a matching CRC after the invalid one at `from`, or
 * undefined when none is (a torn tail from a crash). Looks first where the invalid record's length
 * says the next one starts (a damaged body), then at every byte after it (a damaged length); it
 * stops at the first found, so a damaged record costs about one record's read.
 */
export function findRecordAfter(path: string, from: number, minBody = MIN_EVENT_BODY, endBytes?: number): number | undefined {
  const fd = openSync(path, 'r');
  try {
    // `endBytes`: what the file held when it was scanned. A live log grows meanwhile, and the rest
    // of a record the scan saw half written is not a record after a damaged one.
    const fileBytes = Math.min(fstatSync(fd).size, endBytes ?? Infinity);
    const head = Buffer.allocUnsafe(RECORD_HEADER);
    const whole = (at: number, len: number, crc: number): boolean => {
      if (len < minBody || at + RECORD_HEADER + len > fileBytes) return false;
      const body = Buffer.allocUnsafe(len);
      return readSync(fd, body, 0, len, at + RECORD_HEADER) === len && crc32(body) === crc;
    };
    if (readSync(fd, head, 0, RECORD_HEADER, from) === RECORD_HEADER) {
      const next = from + RECORD_HEADER + head.readUInt32LE(0);
      if (next + RECORD_HEADER <= fileBytes && readSync(fd, head, 0, RECORD_HEADER, next) === RECORD_HEADER && whole(next, head.readUInt32LE(0), head.readUInt32LE(4))) return next;
    }
    const window = Buffer.allocUnsafe(WINDOW + RECORD_HEADER);
    for (let start = from + 1; start + RECORD_HEADER <= fileBytes; start += WINDOW) {
      const n = readSync(fd, window, 0, window.length, start);
      for (let i = 0; i + RECORD_HEADER <= n && i < WINDOW; i++) {
        if (whole(start + i, window.readUInt32LE(i), window.readUInt32LE(i + 4))) return start + i;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Throws when the file held whole records after the first invalid one when it was scanned (see
 * findRecordAfter): a record in the middle is damaged, and cutting the file there would lose every
 * record after it. What a writer added since (a live log read by an export) is not looked at.
 * `what` names the file's role in the error.
 */
export function refuseDamage(path: string, scan: ScanResult, what: string, minBody = MIN_EVENT_BODY): void {
  if (scan.validBytes >= scan.fileBytes) return;
  const after = findRecordAfter(path, scan.validBytes, minBody, scan.fileBytes);
  if (after === undefined) return;
  throw new EventLogError(
    'FAILED_PRECONDITION',
    `${what} ${path}: record ${scan.records} (byte ${scan.validBytes}) is damaged (its length or checksum does not match), and whole records follow it from byte ${after} (${scan.fileBytes - after} bytes). A crash leaves no such thing, so nothing was cut off. Restore the file from a backup; or, to go on with the ${scan.records} records before the damage, copy the file aside and cut it there (truncate -s ${scan.validBytes} ${path}).`,
  );
}

/** Cuts a torn tail left by a crash so the next append starts on a record boundary. */
export function truncateTo(path: string, bytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}
