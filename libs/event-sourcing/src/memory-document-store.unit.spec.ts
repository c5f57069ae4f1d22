import { documentStoreContract } from './testing/document-store.contract.js';
import { MemoryDocumentStore } from './memory-document-store.js';

documentStoreContract('memory', async () => ({ store: new MemoryDocumentStore(), cleanup: async () => {} }));
