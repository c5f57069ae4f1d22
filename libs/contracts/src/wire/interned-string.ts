import { utf8Slice } from './utf8-slice.js';

/**
 * Decodes UTF-8 text from a buffer, answering repeated short ASCII strings (event types, stream
 * ids, Datanet ids, wallet addresses, reasons) from a small table instead of allocating them
 * again; a string from the table also has its hash computed already, which makes it a cheaper map
 * key. An entry matches when its characters equal the bytes one for one, which only an ASCII
 * string can (any other byte decodes to fewer characters or to U+FFFD). Longer strings (hashes,
 * ids) are decoded as they are: comparing them costs more than decoding them.
 */
const SLOTS = 8192;
const MAX_LENGTH = 48;
const table: (string | undefined)[] = new Array(SLOTS);

export function internedString(buf: Buffer, from: number, to: number): string {
  const len = to - from;
  if (len === 0) return '';
  if (len > MAX_LENGTH) return utf8Slice(buf, from, to);
  // The slot comes from the length and at most 16 bytes (ids differ in their first and last ones);
  // the comparison below checks every byte.
  let h = 0x811c9dc5 ^ len;
  const head = len > 16 ? from + 8 : to;
  for (let i = from; i < head; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  for (let i = len > 16 ? to - 8 : to; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  const slot = (h >>> 0) & (SLOTS - 1);
  const known = table[slot];
  if (known !== undefined && known.length === len) {
    let i = 0;
    while (i < len && known.charCodeAt(i) === buf[from + i]) i++;
    if (i === len) return known;
  }
  const str = utf8Slice(buf, from, to);
  table[slot] = str;
  return str;
}
