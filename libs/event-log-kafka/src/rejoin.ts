/** How long a consumer that crashed with the brokers out of reach is started again before it fails for good. */
export const REJOIN_FOR_MS = 300_000;

/**
 * kafkajs errors that say the brokers are out of reach for now (a broker restarting, the network
 * cut), wherever they are among a crash's causes. kafkajs itself starts a crashed consumer again
 * only after retriable errors; a group coordinator it could not find on any broker, as a restart of
 * a single broker leaves it, is not one, and ended the consumer for good.
 */
const AWAY = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSBrokerNotFound',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSRequestTimeoutError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
]);

export function brokersAway(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (AWAY.has(String((e as { name?: unknown }).name))) return true;
  }
  return false;
}

/**
 * Starts a crashed consumer again while the brokers are only out of reach: after 1 s, doubling up to
 * 10 s, for up to `forMs` from the first crash of the outage (a join of the group ends it). Any other
 * crash, or an outage longer than that, is the caller's to fail with.
 */
export class Rejoiner {
  private since: number | undefined;
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly forMs = REJOIN_FOR_MS) {}

  /** The consumer joined its group: the outage, if any, is over. */
  joined(): void {
    this.since = undefined;
    this.attempts = 0;
  }

  /** Schedules `restart` and returns true; false when the crash is not an outage or the outage has lasted too long. */
  crashed(error: unknown, restart: () => void): boolean {
    const now = Date.now();
    this.since ??= now;
    if (!brokersAway(error) || now - this.since >= this.forMs) return false;
    // A restart already on its way stays as it is: callers that meet the crashed consumer meanwhile
    // (every read of the index does) had pushed it back each time, until the outage ran out.
    if (this.timer !== undefined) return true;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      restart();
    }, Math.min(1000 * 2 ** this.attempts++, 10_000));
    return true;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
