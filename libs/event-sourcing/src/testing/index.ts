export { documentStoreContract, type DocumentStoreSubject } from './document-store.contract.js';
export { countingReads } from './counting-reads.js';
