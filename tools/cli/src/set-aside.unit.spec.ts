import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredEvent } from '@opal/event-log';
import type { DeadLetterRecord } from '@opal/event-log-kafka';
import type { DomainEvent, Projection } from '@opal/event-sourcing';
import { SetAside } from './set-aside.js';

const event = (streamSeq: number, offset: number, eventId = `e${offset}`): StoredEvent => ({
  eventId,
  type: 'opal.ingest.v1.DatanetCreated',
  schemaVersion: 1,
  streamId: 'datanet-1',
  streamSeq,
  occurredAt: 1,
  correlationId: '',
  causationId: '',
  producer: 't',
  payload: new Uint8Array(),
  prevHash: new Uint8Array(32),
  hash: new Uint8Array(32),
  position: { partition: 'p.ingest/0', offset },
});

const letter = (subscription: string, e: StoredEvent, dlqOffset: number): DeadLetterRecord => ({
  at: `p.dead-letter/0@${dlqOffset}`,
  event: e,
  reason: 'cannot decode',
  subscription,
  source: `${e.position.partition}@${e.position.offset}`,
  attempts: 3,
});

const catalog = { name: 'ingest.catalog' } as Projection<DomainEvent>;
const upgraded = { name: 'ingest.contributions', version: 2 } as Projection<DomainEvent>;
const batch = [event(1, 10), event(2, 11), event(3, 12)];

describe('SetAside (opal replay --skip-dead-lettered)', () => {
  it("leaves out of each projection what its version's subscription set aside, once, and nothing of the others", () => {
    const s = new SetAside(
      [
        letter('projection.ingest.catalog', batch[1]!, 0),
        letter('projection.ingest.catalog', batch[1]!, 1), // set aside again after a restart
        letter('projection.ingest.contributions', batch[0]!, 2), // version 1's: not version 2's
        letter('projection.ingest.contributions.v2', batch[2]!, 3),
        letter('attribution.index-builder', batch[0]!, 4), // a reactor's
      ],
      [catalog, upgraded],
    );
    assert.equal(s.size, 2);
    assert.deepEqual(s.filter('ingest.catalog', batch).map((e) => e.streamSeq), [1, 3]);
    assert.deepEqual(s.filter('ingest.contributions', batch).map((e) => e.streamSeq), [1, 2]);
    assert.equal(s.filter('governance.parameters', batch), batch, 'a projection with nothing set aside gets the batch as it is');
    // Delivered again (a batch retried): still left out, listed once.
    assert.deepEqual(s.filter('ingest.catalog', batch).map((e) => e.streamSeq), [1, 3]);
    s.checkAllMet();
    assert.deepEqual(
      s.leftOut.map((l) => [l.projection, l.event, l.deadLetter]),
      [
        ['ingest.catalog', 'opal.ingest.v1.DatanetCreated datanet-1#2 (p.ingest/0@11)', 'p.dead-letter/0@0'],
        ['ingest.contributions', 'opal.ingest.v1.DatanetCreated datanet-1#3 (p.ingest/0@12)', 'p.dead-letter/0@3'],
      ],
    );
  });

  it('refuses a log that holds another event where the dead letter says', () => {
    const s = new SetAside([letter('projection.ingest.catalog', event(2, 11, 'other'), 0)], [catalog]);
    assert.throws(() => s.filter('ingest.catalog', batch), /dead letter p\.dead-letter\/0@0 of projection\.ingest\.catalog: p\.ingest\/0@11 holds .*datanet-1#2 \(event e11\).*not the log the subscription read/);
  });

  it('refuses, at the end, a dead letter whose event the log never held', () => {
    const s = new SetAside([letter('projection.ingest.catalog', event(9, 99), 0)], [catalog]);
    s.filter('ingest.catalog', batch);
    assert.throws(() => s.checkAllMet(), /dead letter p\.dead-letter\/0@0 of projection\.ingest\.catalog: the log holds no event at p\.ingest\/0@99/);
  });
});
