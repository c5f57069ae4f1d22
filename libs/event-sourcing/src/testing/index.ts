export { documentStoreContract, type DocumentStoreSubject } from './document-store.contract.js';
