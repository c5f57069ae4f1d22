/**
 * Decodes UTF-8 text from a buffer, answering repeated ASCII strings (event types, stream ids,
 * Datanet ids, wallet addresses, an id read twice in a row) from a small table instead of
 * allocating them again. The table holds strings only: an entry matches when its characters are
 * the bytes, which is exact for ASCII, so anything else is decoded as usual.
 */
const SLOTS = 8192;
const MAX_LENGTH = 128;
const table: (string | undefined)[] = new Array(SLOTS);

export function internedString(buf: Buffer, from: number, to: number): string {
  const len = to - from;
  if (len === 0) return '';
  if (len > MAX_LENGTH) return buf.toString('utf8', from, to);
  let h = 0x811c9dc5 ^ len;
  let high = 0;
  for (let i = from; i < to; i++) {
    const b = buf[i]!;
    high |= b;
    h = Math.imul(h ^ b, 0x01000193);
  }
  if (high & 0x80) return buf.toString('utf8', from, to);
  const slot = (h >>> 0) & (SLOTS - 1);
  const known = table[slot];
  if (known !== undefined && known.length === len) {
    let i = 0;
    while (i < len && known.charCodeAt(i) === buf[from + i]) i++;
    if (i === len) return known;
  }
  const str = buf.toString('latin1', from, to);
  table[slot] = str;
  return str;
}
