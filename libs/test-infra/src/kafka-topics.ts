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

/** Deletes the topics a test or bench created: those whose names start with `prefix`. */
export function deleteTopics(brokers: string | readonly string[], prefix: string): Promise<void> {
  return withKafkaAdmin(brokers, async (admin) => {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine });
  });
}
