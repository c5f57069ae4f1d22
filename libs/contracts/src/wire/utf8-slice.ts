// Buffer#toString(encoding, start, end) checks its arguments and looks the encoding up before it
// calls the per-encoding slice method that Buffer.prototype carries; for the many short strings
// of replay that wrapper costs as much as the decoding. These call the slice methods directly
// where Node has them (every version this project supports) and fall back to toString otherwise.
type Slices = { utf8Slice?(start: number, end: number): string; latin1Slice?(start: number, end: number): string };

const proto = Buffer.prototype as unknown as Slices;
const utf8 = proto.utf8Slice;
const latin1 = proto.latin1Slice;

/** UTF-8 text of `buf[from, to)`, as `buf.toString('utf8', from, to)`; bounds must be valid. */
export const utf8Slice: (buf: Buffer, from: number, to: number) => string = utf8
  ? (buf, from, to) => utf8.call(buf, from, to)
  : (buf, from, to) => buf.toString('utf8', from, to);

/** Latin-1 text of `buf[from, to)` (the same as UTF-8 for ASCII bytes); bounds must be valid. */
export const latin1Slice: (buf: Buffer, from: number, to: number) => string = latin1
  ? (buf, from, to) => latin1.call(buf, from, to)
  : (buf, from, to) => buf.toString('latin1', from, to);
