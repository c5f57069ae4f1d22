import { MongoClient } from 'mongodb';

/**
 * A connected client for a mongodb:// URL, as every store here opens one: 10 s to find the server
 * unless the URL says otherwise (`?serverSelectionTimeoutMS=`), and undefined fields left out of
 * documents. A process passes one client to all its stores (one connection pool).
 */
export async function connectMongo(url: string): Promise<MongoClient> {
  const selection = /[?&]serverSelectionTimeoutMS=/i.test(url) ? {} : { serverSelectionTimeoutMS: 10_000 };
  const client = new MongoClient(url, { ignoreUndefined: true, ...selection });
  await client.connect();
  return client;
}
