import { MongoBulkWriteError, type WriteError } from 'mongodb';

/** The server's code for an insert of an `_id` it already holds. */
export const DUPLICATE_KEY = 11000;

/**
 * The per-document errors of a bulk write that the server took (the driver gives one or a list),
 * or undefined for any other failure: the command itself failed, or its write concern did. The
 * driver reports a connection lost or refused mid-write as a bulk write error too, with no
 * per-document error: that is a failed command, never a write in which every document succeeded.
 */
export function writeErrorsOf(error: unknown): readonly WriteError[] | undefined {
  if (!(error instanceof MongoBulkWriteError) || error.writeConcernError) return undefined;
  const errors = error.writeErrors;
  const list = Array.isArray(errors) ? (errors as readonly WriteError[]) : errors ? [errors as WriteError] : [];
  return list.length > 0 ? list : undefined;
}
