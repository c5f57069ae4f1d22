export { MongoDocumentStore, type MongoDocumentStoreOptions } from './mongo-document-store.js';
export type { StoredVersion } from './stored-versions.js';
export { MongoContentStore } from './mongo-content-store.js';
export { MongoSnapshotStore } from './mongo-snapshot-store.js';
