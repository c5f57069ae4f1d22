import type { EventLog } from '@opal/event-log';

/** The log, counting the events its stream reads (`readStream`) hand out: what a load cost. */
export function countingReads(log: EventLog): { log: EventLog; read: () => number } {
  let read = 0;
  const counted = Object.create(log) as EventLog;
  counted.readStream = async (...args: Parameters<EventLog['readStream']>) => {
    const events = await log.readStream(...args);
    read += events.length;
    return events;
  };
  return { log: counted, read: () => read };
}
