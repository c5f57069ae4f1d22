import { createHash } from 'node:crypto';

/** A stream's last event: its sequence and hash (hex). */
export type StreamHead = { seq: number; hash: string };

/**
 * The log's content, whatever order its streams' events were interleaved in: a SHA-256 over every
 * stream's head, streams in the byte order of their UTF-8 ids, each as the id's length (4 bytes,
 * big-endian), the id, the last sequence (8 bytes, big-endian) and the last event's hash. A head's
 * hash covers the whole stream through its prev_hash chain, so two logs with the same streams
 * digest hold the same events; the embedded log and Kafka give one log's events in different
 * orders, and so different export digests, but the same streams digest.
 */
export function streamsDigest(heads: ReadonlyMap<string, StreamHead>): string {
  const streams = [...heads].map(([id, head]) => ({ id: Buffer.from(id, 'utf8'), head }));
  streams.sort((a, b) => Buffer.compare(a.id, b.id));
  const digest = createHash('sha256');
  const fixed = Buffer.alloc(4);
  const seq = Buffer.alloc(8);
  for (const { id, head } of streams) {
    fixed.writeUInt32BE(id.length);
    seq.writeBigUInt64BE(BigInt(head.seq));
    digest.update(fixed).update(id).update(seq).update(Buffer.from(head.hash, 'hex'));
  }
  return digest.digest('hex');
}
