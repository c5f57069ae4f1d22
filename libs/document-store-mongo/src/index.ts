export { MongoDocumentStore, type MongoDocumentStoreOptions } from './mongo-document-store.js';
export type { ProjectionNames, StoredVersion } from './stored-versions.js';
export { MongoContentStore } from './mongo-content-store.js';
export { MongoSnapshotStore } from './mongo-snapshot-store.js';
export { connectMongo, type ConnectMongoOptions } from './mongo-client.js';
