import { ensureInfra } from '@opal/test-infra';
import { documentStoreContract } from '@opal/event-sourcing/testing';
import { MongoDocumentStore } from './mongo-document-store.js';

const infra = await ensureInfra(['mongo']);
if (infra.skipped) console.log(`# mongo document store: ${infra.reason}`);
else {
  const base = infra.endpoints.mongoUrl!.replace(/\/[^/]*$/, '');
  documentStoreContract('mongodb', async () => {
    const url = `${base}/opal_contract_${process.pid}_${Date.now()}`;
    const store = await MongoDocumentStore.connect({ url });
    return {
      store,
      peer: () => MongoDocumentStore.connect({ url }),
      async cleanup() {
        await store.dropDatabase();
        await store.close();
      },
    };
  });
}
