import type { KafkaMessage } from 'kafkajs';
import { decodeEnvelopeFast, traceContextEnabled, type StoredEvent } from '@opal/event-log';
import type { StreamHeads } from './stream-heads.js';

/** What judging a chunk of one partition's records needs besides the records. */
export type ChunkJudging = {
  readonly topic: string;
  readonly partition: number;
  /** The partition's cursor key (`topic/partition`), the events' position. */
  readonly key: string;
  /** Whether the reader entered the partition past offset zero (a checkpoint, a rebalance, a cursor). */
  readonly midway: boolean;
  /** The partition's stream heads, moved on by the events admitted. */
  readonly heads: StreamHeads;
  /** Which streams' events are wanted (all when undefined); the others are passed over. */
  readonly wanted?: (streamId: string) => boolean;
  /** Whether a record counts as an event of its stream (the adapter's index decides, from offset zero). */
  readonly counts: (topic: string, partition: number, offset: number) => Promise<boolean>;
};

/**
 * The chunk's events, without the losers of version races. A reader that entered the partition at
 * offset zero has seen every stream from its start and judges each record by its chain. One that
 * entered mid-way does not know where each stream stood there: the first record of each stream it
 * meets may itself be a loser, and taking it as the head would drop every later event of that
 * stream. The adapter's index judges that record.
 */
export async function judgeChunk(chunk: readonly KafkaMessage[], j: ChunkJudging): Promise<StoredEvent[]> {
  const traced = traceContextEnabled();
  const { wanted, heads } = j;
  const out: StoredEvent[] = [];
  for (const m of chunk) {
    if (!m.value) continue;
    // A record's key is its stream id: other streams' records are passed over undecoded.
    if (wanted && m.key && !wanted(m.key.toString())) continue;
    const offset = Number(m.offset);
    const decoded = decodeEnvelopeFast(m.value, 0, m.value.length, { partition: j.key, offset });
    if (wanted && !m.key && !wanted(decoded.streamId)) continue;
    const e = traced ? withTraceOf(decoded, m) : decoded;
    if (j.midway && !heads.has(e.streamId)) {
      if (await j.counts(j.topic, j.partition, offset)) {
        heads.adopt(e);
        out.push(e);
      }
    } else if (heads.admit(e)) {
      out.push(e);
    }
  }
  return out;
}

/** The event with the trace context its record carries in its headers, if any. */
function withTraceOf(e: StoredEvent, m: KafkaMessage): StoredEvent {
  const header = m.headers?.['traceparent'];
  if (header === undefined) return e;
  return { ...e, traceparent: String(Array.isArray(header) ? header[0] : header) };
}
