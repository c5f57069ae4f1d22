import { closeSync, mkdirSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IndexDocument } from '@opal/attribution-index';
import { zipfDocumentMeta } from './zipf-corpus.js';

/**
 * The benchmark's corpus as a file: each document's token ids followed by a 0, little-endian u32.
 * Generating the seeded Zipf corpus is the fixture's cost, not the index's: it is written once and
 * then read back like any corpus on disk. Document d's id, contributor and order key follow from d.
 */
export function writeCorpusFile(path: string, documents: Iterable<IndexDocument>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, 'w');
  const chunk = new Uint32Array(1 << 22);
  let n = 0;
  const drain = () => {
    const bytes = new Uint8Array(chunk.buffer, 0, n * 4);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    n = 0;
  };
  try {
    for (const doc of documents) {
      const ids = doc.tokenIds!;
      if (n + ids.length + 1 > chunk.length) drain();
      chunk.set(ids, n);
      n += ids.length;
      chunk[n++] = 0;
    }
    drain();
  } finally {
    closeSync(fd);
  }
  // Renamed only when complete, so an interrupted run never leaves a truncated corpus behind.
  renameSync(tmp, path);
}

/** Streams the documents of a corpus file in 16 MiB reads; each document's ids are a view that is valid until the next one. */
export function* readCorpusFile(path: string): Generator<IndexDocument> {
  const fd = openSync(path, 'r');
  const buf = new Uint32Array(1 << 22);
  const bytes = new Uint8Array(buf.buffer);
  let have = 0; // tokens in buf
  let at = 0; // next unread token in buf
  let d = 0;
  try {
    for (;;) {
      // Move the unfinished document to the front and fill the rest.
      buf.copyWithin(0, at, have);
      have -= at;
      at = 0;
      const got = readSync(fd, bytes, have * 4, bytes.length - have * 4, null);
      if (got % 4 !== 0) throw new Error(`${path}: not a whole number of tokens`);
      have += got / 4;
      if (got === 0 && have === 0) return;
      if (got === 0) throw new Error(`${path}: last document has no terminating 0`);
      const filled = buf.subarray(0, have);
      for (let end = filled.indexOf(0, at); end >= 0; end = filled.indexOf(0, at)) {
        yield { ...zipfDocumentMeta(d++), tokenIds: filled.subarray(at, end) };
        at = end + 1;
      }
    }
  } finally {
    closeSync(fd);
  }
}
