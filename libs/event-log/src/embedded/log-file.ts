import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/**
 * The embedded log's file format: a sequence of records, each
 *   u32 length (little endian) | u32 CRC-32 of the body | body (an encoded EventEnvelope).
 * A record is valid only whole and with a matching CRC; anything after the last valid record is
 * a torn write from a crash and is cut off when the log opens for writing.
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

/** Cuts a torn tail left by a crash so the next append starts on a record boundary. */
export function truncateTo(path: string, bytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}
