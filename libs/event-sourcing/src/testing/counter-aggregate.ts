// What the AggregateCache specs share: a counter aggregate over a catalogued event type, and an
// embedded log per describe.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { EmbeddedEventLog } from '@opal/event-log';
import type { AggregateDefinition } from '../aggregate-cache.js';
import type { DomainEvent } from '../domain-event.js';
import { TypedEventCodec } from '../typed-event-codec.js';

// Counter events through a catalogued type (the codec needs one): DatanetCreated's name carries the count.
export type Counted = DomainEvent<'DatanetCreated', { datanetId: string; name: string; tags: string[] }>;
export const codec = new TypedEventCodec<Counted>('opal.ingest.v1', ['DatanetCreated']);
export const counter: AggregateDefinition<{ count: number; names: string[] }, Counted> = {
  codec,
  initial: () => ({ count: 0, names: [] }),
  evolve: (s, e) => ({ count: s.count + 1, names: [...s.names, e.data.name] }),
};
export const add = (name: string) => (s: { count: number }) => ({ events: [{ type: 'DatanetCreated' as const, data: { datanetId: 'd', name, tags: [] } }], result: s.count + 1 });
// Each decision names the event it saw last: in the log that must be the event before it.
export const seeing = (tag: string) => (s: { count: number; names: string[] }) => add(`${tag} after ${s.names.at(-1)}`)(s);

export function assertEachDecidedOnTheOneBefore(names: readonly string[]): void {
  for (let i = 1; i < names.length; i++) {
    const saw = / after (.*)$/.exec(names[i]!)?.[1];
    if (saw !== undefined) assert.equal(saw, names[i - 1], `event ${i + 1} was decided on the events before it: ${names.join(' | ')}`);
  }
}

/** Another process's append to the stream, taken by the log at once. */
export function interfere(log: EmbeddedEventLog, stream: string): void {
  void log.append(stream, [codec.encode({ type: 'DatanetCreated', data: { datanetId: 'd', name: 'other', tags: [] } }, 1)], { expectedVersion: 'any', producer: 'other' });
}

/**
 * An embedded log of the enclosing describe, opened before its tests and removed after them; a
 * proxy, so the tests name it as the log itself.
 */
export function embeddedLog(prefix: string): EmbeddedEventLog {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let log: EmbeddedEventLog | undefined;
  before(async () => {
    log = await EmbeddedEventLog.open(dir, { fsync: false });
  });
  after(async () => {
    await log?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return new Proxy({} as EmbeddedEventLog, {
    get: (_t, key) => {
      const value = Reflect.get(log!, key, log);
      return typeof value === 'function' ? value.bind(log) : value;
    },
  });
}
