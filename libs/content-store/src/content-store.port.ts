/**
 * Contribution bytes by their SHA-256 (hex, with or without 0x): written by ingest, read by
 * attribution and inference. Embedded: a pack file; scaled out: MongoDB.
 */
export interface ContentStore {
  /** Stores durably; resolves once the bytes would survive a crash. A known hash is a no-op. */
  put(contentHash: string, content: Uint8Array): Promise<void>;
  get(contentHash: string): Promise<Uint8Array | undefined>;
  /**
   * The contents found of those asked, keyed by the hash as asked: a remote store reads them in a
   * few round trips, not one each (an index of a version reads its every contribution).
   */
  getMany(contentHashes: readonly string[]): Promise<Map<string, Uint8Array>>;
  close(): Promise<void>;
}

export const CONTENT_STORE = Symbol('ContentStore');
