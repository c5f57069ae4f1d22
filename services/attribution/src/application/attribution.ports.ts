import type { AttributionIndex, IndexDocument, IndexManifest } from '@opal/attribution-index';
import type { DatanetVersionRef } from '../domain/datanet-version.js';

/** Contribution bytes by content hash (what ingest stored); throws when missing or corrupt. */
export interface ContributionContent {
  /** The contents of the hashes, in their order; throws for one missing or damaged. */
  readMany(contentHashes: readonly string[]): Promise<Uint8Array[]>;
}
export const CONTRIBUTION_CONTENT = Symbol('ContributionContent');

/** Index directories, one per Datanet version: built once, immutable, opened on demand. */
export interface IndexFiles {
  /**
   * Builds the version's index unless a finished one is already on disk (then returns its
   * manifest). Writes to a temporary folder and renames it, so a crash never leaves half an index
   * under the final name.
   */
  build(ref: DatanetVersionRef, documents: AsyncIterable<IndexDocument>, options: { readonly workers?: number }): Promise<IndexManifest>;
  /** Whether this machine holds the version's finished index. */
  has(ref: DatanetVersionRef): boolean;
  /** Opens (and caches) the version's index; throws unless its hash is `indexHash`. */
  open(ref: DatanetVersionRef, indexHash: string): AttributionIndex;
}
export const INDEX_FILES = Symbol('IndexFiles');
