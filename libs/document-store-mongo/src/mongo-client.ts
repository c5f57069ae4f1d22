import { MongoClient } from 'mongodb';
import type { SecureContext } from 'node:tls';
import { TransientError } from '@opal/event-log';
import { unavailable } from './unavailable.js';

export type ConnectMongoOptions = {
  /**
   * TLS to the server through this context (its CA, the client's certificate), used for every
   * connection the client opens from then on; it implies TLS. Whoever made it may renew what it
   * holds while the client runs (a renewed certificate).
   */
  readonly secureContext?: SecureContext;
};

/**
 * A connected client for a mongodb:// URL, as every store here opens one: 10 s to find the server
 * unless the URL says otherwise (`?serverSelectionTimeoutMS=`), and undefined fields left out of
 * documents. A process passes one client to all its stores (one connection pool).
 */
export async function connectMongo(url: string, options: ConnectMongoOptions = {}): Promise<MongoClient> {
  const selection = /[?&]serverSelectionTimeoutMS=/i.test(url) ? {} : { serverSelectionTimeoutMS: 10_000 };
  const tls = options.secureContext ? { tls: true, secureContext: options.secureContext } : {};
  const client = new MongoClient(url, { ignoreUndefined: true, ...selection, ...tls });
  try {
    await client.connect();
  } catch (error) {
    // Named, as the log's connect errors are: a process given both says which one is away. A
    // server out of reach stays a TransientError.
    const message = `mongodb at ${withoutCredentials(url)}: ${error instanceof Error ? error.message : String(error)}`;
    throw unavailable(error) instanceof TransientError ? new TransientError(message, { cause: error }) : new Error(message, { cause: error });
  }
  return client;
}

/** The URL with any user and password, and a key file's password, left out, fit for a log line. */
export function withoutCredentials(url: string): string {
  return url.replace(/^(mongodb(?:\+srv)?:\/\/)[^@/]*@/i, '$1').replace(/([?&]tlsCertificateKeyFilePassword=)[^&]*/gi, '$1***');
}
