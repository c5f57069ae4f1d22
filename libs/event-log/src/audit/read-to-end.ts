import type { Cursor, EventLog } from '../event-log.port.js';
import type { StoredEvent } from '../envelope.js';

/**
 * The log from the start, in batches of at most `limit`, up to `until`: per partition, the offset
 * where a whole-log read stops (for a log others keep appending to, its ends when the read began:
 * EventLog.endsOf). Without `until`, up to the log's end as the log sees it (an embedded log opened
 * read-only, fixed at open). Following the live end instead, an export or a replay of a busy
 * cluster ran on for as long as writes came, and stopped at no point in time.
 */
export async function* readToEnd(log: EventLog, limit: number, until?: Cursor): AsyncGenerator<readonly StoredEvent[]> {
  const done = (cursor: Cursor) => until !== undefined && Object.entries(until).every(([partition, end]) => (cursor[partition] ?? 0) >= end);
  let cursor: Cursor | undefined;
  if (until && done({})) return;
  for (;;) {
    const { events, next } = await log.read(cursor, limit);
    cursor = next;
    const kept = until ? events.filter((e) => e.position.offset < (until[e.position.partition] ?? 0)) : events;
    if (kept.length > 0) yield kept;
    if (events.length === 0 || done(next)) return;
  }
}
