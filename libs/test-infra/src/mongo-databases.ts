import { MongoClient } from 'mongodb';

/** Drops the database a test or bench wrote to: the one its URL names. */
export async function dropDb(url: string): Promise<void> {
  const client = await new MongoClient(url).connect();
  try {
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
}
