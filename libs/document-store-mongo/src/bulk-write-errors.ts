import { MongoBulkWriteError, type WriteError } from 'mongodb';

/** The server's code for an insert of an `_id` it already holds. */
export const DUPLICATE_KEY = 11000;

/**
 * The per-document errors of a bulk write that the server took (the driver gives one or a list),
 * or undefined for any other failure: the command itself failed, or its write concern did.
 */
export function writeErrorsOf(error: unknown): readonly WriteError[] | undefined {
  if (!(error instanceof MongoBulkWriteError) || error.writeConcernError) return undefined;
  const errors = error.writeErrors;
  return Array.isArray(errors) ? (errors as readonly WriteError[]) : [errors as WriteError];
}
