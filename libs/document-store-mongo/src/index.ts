export { MongoDocumentStore, type MongoDocumentStoreOptions } from './mongo-document-store.js';
export { MongoContentStore } from './mongo-content-store.js';
