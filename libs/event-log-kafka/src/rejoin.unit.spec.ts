import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { brokersAway, Rejoiner } from './rejoin.js';

const named = (name: string, cause?: unknown) => Object.assign(new Error(name), { name, cause });

describe('Rejoiner', () => {
  it('takes the brokers out of reach, wherever among the causes, for an outage; anything else is not', () => {
    assert.ok(brokersAway(named('KafkaJSNonRetriableError', named('KafkaJSGroupCoordinatorNotFound'))));
    assert.ok(brokersAway(named('KafkaJSNumberOfRetriesExceeded', named('KafkaJSConnectionError'))));
    assert.ok(!brokersAway(named('KafkaJSSASLAuthenticationError')));
    assert.ok(!brokersAway(named('KafkaJSNonRetriableError', named('KafkaJSTopicAuthorizationFailed'))));
    assert.ok(!brokersAway(new TypeError('a bug')));
    assert.ok(!brokersAway(undefined));
  });

  it('starts again after a growing pause while the outage lasts less than its bound, and a join ends the outage', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const rejoin = new Rejoiner(30_000);
    const away = named('KafkaJSConnectionError');
    let restarts = 0;
    const restart = () => void restarts++;
    assert.equal(rejoin.crashed(away, restart), true);
    t.mock.timers.tick(999);
    assert.equal(restarts, 0);
    t.mock.timers.tick(1);
    assert.equal(restarts, 1, 'after 1 s');
    assert.equal(rejoin.crashed(away, restart), true);
    t.mock.timers.tick(2000);
    assert.equal(restarts, 2, 'after 2 s more');
    t.mock.timers.tick(30_000);
    assert.equal(rejoin.crashed(away, restart), false, 'an outage past the bound fails');
    rejoin.joined();
    assert.equal(rejoin.crashed(away, restart), true, 'a join ended that outage: a new one starts');
    t.mock.timers.tick(1000);
    assert.equal(restarts, 3, 'and pauses 1 s again');
    assert.equal(rejoin.crashed(named('KafkaJSSASLAuthenticationError'), restart), false, 'not an outage');
    assert.equal(rejoin.crashed(away, restart), true);
    rejoin.cancel();
    t.mock.timers.tick(60_000);
    assert.equal(restarts, 3, 'cancelled: never starts again');
  });

  it('leaves a restart on its way as it is when the crashed consumer is met again meanwhile', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const rejoin = new Rejoiner(30_000);
    const away = named('KafkaJSConnectionError');
    let restarts = 0;
    const restart = () => void restarts++;
    assert.equal(rejoin.crashed(away, restart), true);
    // Every read of the index meets the consumer down, well within the pause.
    for (let i = 0; i < 9; i++) {
      t.mock.timers.tick(100);
      assert.equal(rejoin.crashed(away, restart), true);
    }
    t.mock.timers.tick(100);
    assert.equal(restarts, 1, 'started again 1 s after the crash, however often it was met since');
    rejoin.cancel();
  });
});
