import { Kafka, logLevel } from 'kafkajs';

/** Deletes the topics a test or bench created: those whose names start with `prefix`. */
export async function deleteTopics(brokers: string | readonly string[], prefix: string): Promise<void> {
  const admin = new Kafka({ brokers: typeof brokers === 'string' ? [brokers] : [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine });
  } finally {
    await admin.disconnect();
  }
}
