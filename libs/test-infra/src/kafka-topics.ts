import { Kafka, logLevel, type Admin } from 'kafkajs';

/** Runs `fn` with an admin client of these brokers, connected for it and disconnected after. */
export async function withKafkaAdmin<T>(brokers: string | readonly string[], fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ brokers: typeof brokers === 'string' ? [brokers] : [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Deletes the topics a test or bench created: those whose names start with `prefix`, and waits
 * (up to 30 s) until the broker no longer lists them. Deletion goes on after the call answers: a
 * log connected meanwhile under the same names found them listed, did not create them, and then
 * failed on partitions the broker no longer hosted.
 */
export function deleteTopics(brokers: string | readonly string[], prefix: string): Promise<void> {
  return withKafkaAdmin(brokers, async (admin) => {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length === 0) return;
    await admin.deleteTopics({ topics: mine });
    const until = Date.now() + 30_000;
    while ((await admin.listTopics()).some((t) => mine.includes(t)) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  });
}
